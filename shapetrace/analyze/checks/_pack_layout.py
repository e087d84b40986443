"""ST001 at ``pack_padded_sequence``: the lengths count the other axis of the input.

``pack_padded_sequence(x, lengths, batch_first=True)`` takes x as (B, T, *) and one
length per sample of dim 0. A batch padded seq-first, (T, B, *) (``pad_sequence``'s
default is ``batch_first=False``), has as many lengths as its dim 1: PyTorch packs the
wrong rows (with ``enforce_sorted=False`` it first reorders dim 0 by the lengths,
keeping only len(lengths) of its rows) and the RNN after it raises an error that names
neither, or, when the sizes allow, runs on scrambled data. The lengths' count against
the input's two leading dims tells which is the batch.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import PACKING_OPS
from shapetrace.core.trace import Trace


def _given(flow: TraceLineage, pack: Call, batch_dim: int) -> TensorMeta:
    """The input as the user passed it: before the reordering by length that
    ``enforce_sorted=False`` runs on the same line (an ``index_select`` along the batch)."""
    source = flow.source(pack, 0)
    made = source.call if source is not None and not source.as_input else None
    if (
        made is not None
        and made.kind == "op"
        and made.name == "index_select"
        and made.location == pack.location
        and argument(made, 0, "dim", None) == batch_dim
    ):
        return made.inputs[0]
    return pack.inputs[0]


def packed_layout_findings(trace: Trace, flow: TraceLineage) -> Iterator[Finding]:
    """ST001 for each ``pack_padded_sequence`` whose lengths count its input's other leading dim."""
    for pack in trace.calls:
        if pack.kind != "op" or pack.name not in PACKING_OPS or len(pack.inputs) < 2:
            continue
        lengths = pack.inputs[1]
        first = argument(pack, 1, "batch_first", False) is True  # (positions count after the input)
        batch_dim = 0 if first else 1
        given = _given(flow, pack, batch_dim)
        if lengths.ndim != 1 or given.ndim < 2:
            continue
        count, batch, other = lengths.shape[0], given.shape[batch_dim], given.shape[1 - batch_dim]
        if count == batch or count != other:
            continue
        layout = "(time, batch, ...)" if first else "(batch, time, ...)"
        found = find_call(pack.location, {"pack_padded_sequence"}, None)
        name = found.args[0] if found is not None and found.args else "x"
        name = name if name.isidentifier() else f"({name})"
        message = (
            f"pack_padded_sequence {at_line(pack)} takes dim {batch_dim} of its input {format_shape(given)} as the "
            f"batch (batch_first={first}), but lengths has {count} entries, the size of dim {1 - batch_dim}: the "
            f"input is {layout}" + (", as pad_sequence pads by default (batch_first=False)" if first else "")
        )
        hint = (
            f"pad the batch batch-first where it is made (pad_sequence(..., batch_first=True)), or pass "
            f"{name}.transpose(0, 1)"
            if first
            else f"pass batch_first=True to pack_padded_sequence (and to the RNN), or {name}.transpose(0, 1)"
        )
        yield finding("ST001", pack, message, hint)
