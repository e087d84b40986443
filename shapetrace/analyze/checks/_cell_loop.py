"""ST001 for recurrent cells: a loop that steps a cell through the batch axis.

A cell (``nn.GRUCell``, ``LSTMCell``, ``RNNCell``) has no ``batch_first``: the user's loop
decides which axis is time, by the index it takes each step (``x[:, t]`` of batch-first
data, ``x[t]`` of seq-first data). The seq-first habit on batch-first data, ``for t in
range(x.size(0)): h = cell(x[t], h)``, hands the cell one whole sample per step and
carries its state from sample to sample: the recurrence runs across the batch, and
each row of the state is a time position. With batch == steps every shape fits.

The step input may be an index (``x[t]``, ``x.select(0, t)``) or one of ``x.unbind(0)``'s
tensors. (``for x_t in x`` unbinds inside PyTorch, where no op is recorded: not seen.)
The batch axis is known here when the model's input is the very tensor a DataLoader
yielded (its collate stacks the samples in dim 0, ``_size_clues.yielded``), and the
loop is a recurrence when the cell's state at one call is what it returned at the call
before. Other evidence (a hand-sliced batch, sizes alone) cannot tell a wrong loop from
seq-first data: no finding then.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root, receiver_text
from shapetrace.analyze.checks._rnn import is_cell
from shapetrace.analyze.checks._size_clues import yielded
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument, axis_of, integer_indices
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


def _loader_batches(trace: Trace, flow: TraceLineage, root: Call) -> dict[str, str]:
    """``{atom origin: description}`` of the DataLoader batch axes among ``root``'s inputs."""
    found: dict[str, str] = {}
    for index, meta in enumerate(root.inputs):
        dims = flow.input_lineage(root, index) if meta.shape else ()
        if dims and len(dims[0]) == 1 and yielded(trace, root, index):
            found[dims[0][0].origin] = f"dim 0 of the model input {format_shape(meta)}, a batch a DataLoader yielded"
    return found


def _recurrent(flow: TraceLineage, cell: Call) -> bool:
    """The cell's state at this call is what the same cell returned at an earlier call."""
    source = flow.source(cell, 1) if len(cell.inputs) > 1 else None
    return source is not None and not source.as_input and source.call.name == cell.name and is_cell(source.call)


def _written(pick: Call, cell: Call) -> tuple[str, str]:
    """The index as written on its line and the tensor it indexes: the cell call's first
    argument (``x[t]`` of ``h = self.cell(x[t], h)``, whatever else the line indexes, as
    ``x.shape[0]`` in a one-line loop), else as recorded."""
    found = find_call(pick.location, {cell.name.rpartition(".")[2]})
    try:
        node = ast.parse(found.args[0], mode="eval").body if found is not None and found.args else None
    except SyntaxError:
        node = None
    if isinstance(node, ast.Subscript):
        return ast.unparse(node), ast.unparse(node.value)
    return op_text(pick), receiver_text(pick, "x")


def _picked(pick: Call, ndim: int) -> list[int]:
    """The dims an op hands out one element of: an integer index (``x[t]``, ``select``),
    or ``unbind``'s dim (``for x_t in x.unbind(0)``)."""
    if pick.name == "unbind":
        dim = axis_of(argument(pick, 0, "dim", 0), ndim)
        return [dim] if dim is not None else []
    return list(integer_indices(pick, ndim))


def cell_loop_findings(trace: Trace, flow: TraceLineage) -> Iterator[Finding]:
    """ST001 where a cell's step input takes one element of a DataLoader's batch axis
    and the cell carries its state from step to step (one finding per cell)."""
    seen: set[str] = set()
    batches_of: dict[int, dict[str, str]] = {}
    for cell in trace.calls:
        if not is_cell(cell) or cell.name in seen or not cell.inputs or not _recurrent(flow, cell):
            continue
        source = flow.source(cell, 0)
        pick = source.call if source is not None and not source.as_input else None
        if pick is None or pick.kind != "op" or not pick.inputs:
            continue
        root = pass_root(cell)
        if root.id not in batches_of:
            batches_of[root.id] = _loader_batches(trace, flow, root)
        lineage = flow.input_lineage(pick, 0)
        for dim in _picked(pick, len(lineage)):
            axis = lineage[dim]
            why = batches_of[root.id].get(axis[0].origin) if len(axis) == 1 else None
            if why is None:
                continue
            seen.add(cell.name)
            steps = next((d for d in range(len(lineage)) if d != dim), None)
            written, tensor = _written(pick, cell)
            rows = f"each of its {format_shape(cell.outputs[0])} rows" if cell.outputs else "each row"
            message = (
                f"{written} {at_line(pick)} hands {call_label(cell)} one element of dim {dim} of "
                f"{tensor} {format_shape(pick.inputs[0])}, {why}: one whole sample per step, and the state the "
                f"cell carries runs across the samples of the batch; {rows} is a position of another axis"
            )
            state = f"with a state of {tensor}.size({dim}) rows"
            if pick.name == "unbind":  # for x_t in x.unbind(0)
                tensor = receiver_text(pick, "x")
                hint = f"use {tensor}.unbind({steps}): one step of every sample each time, {state}"
            elif dim == 0 and steps == 1:
                hint = f"use {tensor}[:, t]: step along dim {steps}, for t in range({tensor}.size({steps})), {state}"
            else:
                hint = f"index the time axis of {tensor} each step, not dim {dim} (the batch)"
            yield finding("ST001", pick, message, hint)
            break
