"""ST001's evidence from windows: pieces of one sequence cut by slicing and stacked.

``torch.stack([series[i:i + W] for i in starts])`` makes a batch of windows: each
slice runs along the sequence (its steps, time), and the stack counts the windows
(the samples). An RNN whose batch is the sliced axis recurs across the windows; one
whose time is the sliced axis steps along them. Slicing a dataset into minibatches
(``data[i:i + B]``) is one slice per batch, never stacked: no evidence here.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, op_text
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.lineage.atoms import axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace

_SLICES = frozenset({"__getitem__", "narrow"})


def _sliced_dim(op: Call) -> int | None:
    """The one dim a slice shortened (``series[i:i + W]`` of ``(N,)``: 0), else None."""
    if op.name not in _SLICES or not op.inputs or op.output is None:
        return None
    before, after = op.inputs[0].shape, op.output.shape
    if len(before) != len(after):
        return None
    changed = [d for d, (a, b) in enumerate(zip(before, after)) if a != b]
    return changed[0] if len(changed) == 1 else None


def _window_axis(flow: TraceLineage, stack: Call) -> tuple[set, Call] | None:
    """The axes of the windows' sliced dim in ``stack``'s output, with one of the slices,
    when every stacked tensor is a slice of the same tensor along the same dim."""
    if stack.output is None or len(stack.inputs) < 2:
        return None
    slices = []
    for k in range(len(stack.inputs)):
        source = flow.source(stack, k)
        if source is None or source.as_input:
            return None
        slices.append(source.call)
    dims = {_sliced_dim(op) for op in slices}
    tensors = {op.input_ids[0] if op.input_ids else None for op in slices}
    dim = dims.pop() if len(dims) == 1 else None
    if dim is None or len(tensors) != 1 or None in tensors:
        return None
    axis = axis_of(argument(stack, 1, "dim", 0), stack.output.ndim)
    if axis is None:
        return None
    at = dim + 1 if dim >= axis else dim
    return axes(flow.output_lineage(stack, 0)[at]), slices[0]


def stacked_windows(trace: Trace, flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """A dim of the layer's input is the sliced axis of windows stacked from one sequence:
    time whatever the sizes. The layer's batch there: swapped; its time: agreeing."""
    batch, time = flow.outside_axes(lay.batch), flow.outside_axes(lay.time)
    for stack in trace.calls:
        if stack.id >= lay.call.id:
            return
        if stack.kind != "op" or stack.name != "stack":
            continue
        found = _window_axis(flow, stack)
        if found is None or found[0] not in (batch, time):
            continue
        window, piece = found
        what = (
            f"{op_text(piece)} {at_line(piece)} cuts windows of one sequence, {len(stack.inputs)} of them "
            f"stacked {at_line(stack)}: the sliced axis holds the steps of each window"
        )
        if window == batch:
            yield Clue(True, f"{what}, and it is the axis it takes as the batch")
        else:
            yield Clue(False, f"{what}, the axis the {lay.call.type} {lay.verb}")
        return
