"""ST020 uneven-shard: ranks get different shapes before a collective.

Sequence and tensor parallel code cuts a tensor into one piece per rank
(``torch.chunk(x, world, dim=1)[rank]``). When the axis is not a multiple of
the number of pieces, the pieces differ (a length-7 axis: 4 + 3) and the
collective they reach (``all_gather``, ``all_reduce``) sees different shapes
on different ranks: gloo aborts a rank, NCCL hangs, or, with equal element
counts, the data is silently scrambled. One rank's trace shows it: the split
has pieces of unequal size, and its output flows into a collective. Across
ranks (``shapetrace diff trace.rank*.json``) a rank-dependent batch is named
too (``analyze/rank_diff.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.rank_diff import SPLITS, upstream_calls
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims
from shapetrace.core.torch_facts import COLLECTIVES, is_collective
from shapetrace.core.trace import Trace


def _uneven_axis(split: Call) -> int | None:
    """The axis along which a split's pieces differ in size, None when they are even."""
    shapes = [m.shape for m in split.outputs]
    if len(shapes) < 2 or len({len(s) for s in shapes}) != 1:
        return None
    for axis in range(len(shapes[0])):
        if len({s[axis] for s in shapes}) > 1:
            return axis
    return None


def _is_checked_collective(call: Call) -> bool:
    name = call.type.partition(".")[2]
    return is_collective(call.type) and COLLECTIVES.get(name, ((), "all"))[1] in ("all", "first")


@register("ST020", "uneven-shard", "error", "an uneven chunk/split gives ranks different shapes before a collective")
def check_uneven_shard(trace: Trace) -> Iterator[Finding]:
    calls = trace.calls
    for collective in calls:
        if not _is_checked_collective(collective) or (collective.error is not None and not collective.inputs):
            continue
        upstream = upstream_calls(trace, collective)
        for split in calls:
            if split.id not in upstream or split.kind != "op" or split.name not in SPLITS:
                continue
            axis = _uneven_axis(split)
            if axis is None or not split.inputs:
                continue
            sizes = ", ".join(str(m.shape[axis]) for m in split.outputs)
            pieces = len(split.outputs)
            whole = split.inputs[0].shape
            message = (
                f"{split.type} {at_line(split)} cuts dim {axis} of {format_dims(whole)} into pieces of "
                f"{sizes}: each rank's piece has a different shape before {collective.type} "
                f"{at_line(collective)}"
            )
            padded = -(-whole[axis] // pieces) * pieces
            pad = (0, 0) * (len(whole) - 1 - axis) + (0, padded - whole[axis])
            hint = (
                f"pad dim {axis} to {padded} (a multiple of {pieces}) before the split: "
                f"x = F.pad(x, {pad}); or drop the remainder, or use sizes that divide evenly"
            )
            yield finding("ST020", split, message, hint)
