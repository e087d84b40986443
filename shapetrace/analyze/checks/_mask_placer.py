"""Attention masks: the ops that apply one to the scores, and where a mask got its axes,
the op that made it 3- or 4-D for the scores (ST028 and ST029 place their findings
there, the line to change)."""

from __future__ import annotations

from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call

# The ops that apply an attention mask to the scores: added (0 / -inf), filled in, or ``where``.
MASKING_OPS = frozenset({"add", "__add__", "__radd__", "add_", "__iadd__", "masked_fill", "masked_fill_", "where"})
# What turns a (B, S) mask into the 4-D one: the index, unsqueeze or view that placed its axes.
_PLACING = frozenset({"__getitem__", "unsqueeze", "view", "reshape", "expand"})


def mask_placer(flow: TraceLineage, call: Call, k: int) -> Call | None:
    """The op that gave the mask its 4-D axes: back through elementwise steps (``1 - m``,
    ``* -10000.0``, ``.float()``) to the index, ``unsqueeze`` or ``view``."""
    source = flow.source(call, k)
    for _ in range(24):
        if source is not None and source.as_input:  # a module's own input: what its caller passed
            source = flow.source(source.call, source.index)
            continue
        if source is None or source.call.kind != "op":
            return None
        made = source.call
        if made.name in _PLACING and made.inputs and made.inputs[0].ndim < made.outputs[0].ndim:
            return made
        if not made.inputs or made.inputs[0].shape != made.outputs[0].shape:
            return None
        source = flow.source(made, 0)
    return None
