"""ST001 batch-first-mismatch: an RNN steps through the batch.

PyTorch runs an RNN on batch-major data with ``batch_first=False`` without a
word: batch and time are just swapped. Sizes alone cannot tell (a correct
seq-first model looks the same), so this check weighs clues from the trace:

- positional (from dimension lineage, so equal sizes do not matter): the
  input axis that survives as dim 0 of the model's output is the batch; the
  axis the code takes the last step of, or pools over, is time;
- sizes: an ``h_0`` is (layers, batch, hidden) (only when it does not fit: a
  state built to fit the RNN's layout proves nothing); a loss target has one row
  per sample;
- passes: the axis the RNN recurs over is the same size in every pass but a
  shorter last one, while its batch axis stays: a short last batch.

When batch and time have the same size the sizes cannot decide, and the
finding says so rather than guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import argument_text, at_line, call_label, op_text, pass_root
from shapetrace.analyze.checks._losses import is_elementwise_loss, loss_operands
from shapetrace.analyze.checks._rnn import Layout, first_layouts, hidden_inputs, ops_after
from shapetrace.analyze.lineage.atoms import dim_of, origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.op_args import integer_indices, reduced_axes
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape, tensor_name
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class Clue:
    """One piece of evidence on the data's layout; ``swapped`` when it says
    batch and time are the other way round from what the RNN assumes."""

    swapped: bool | None  # None: sizes collide, it cannot tell
    text: str
    weak: bool = False  # an h_0 the caller built: it follows the caller's belief on the layout


def _survival(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    root = pass_root(lay.call)
    if root is lay.call or not root.outputs or not root.outputs[0].shape:
        return
    out = flow.output_lineage(root, 0)
    batch, time = dim_of(out, lay.batch[0]), dim_of(out, lay.time[0])
    shape = format_shape(root.outputs[0])
    if time == 0 and batch is None:
        yield Clue(True, f"its dim {lay.time_dim} ends up as dim 0 of the model output {shape}")
    elif batch == 0 and time is None:
        yield Clue(False, f"its dim {lay.batch_dim} ends up as dim 0 of the model output {shape}")


def _time_reductions(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """The code taking the last step of, or pooling over, one of the two axes."""
    for op, lineage in ops_after(flow, lay):
        batch, time = dim_of(lineage, lay.batch[0]), dim_of(lineage, lay.time[0])
        if batch is None or time is None:
            continue
        shape = op.inputs[0].shape
        last = {dim for dim, index in integer_indices(op, len(shape)).items() if index in (-1, shape[dim] - 1)}
        pooled = set(reduced_axes(op, len(shape)) or ())
        for dim in (last | pooled) & {batch, time}:
            verb = "takes the last step of" if dim in last else "pools over"
            axis = "the batch axis" if dim == batch else "the time axis"
            yield Clue(dim == batch, f"{op_text(op)} {at_line(op)} {verb} {axis}")


def _by_size(what: str, rows: int, lay: Layout) -> Clue | None:
    """A size that should equal the batch size."""
    if lay.batch_size == lay.steps:
        return Clue(None, f"{what} fits both, since batch and time are both {rows}")
    if rows == lay.steps:
        return Clue(True, f"{what} is made for a batch of {rows}, the length of its dim {lay.time_dim}")
    return Clue(False, what) if rows == lay.batch_size else None


def _size_clues(flow: TraceLineage, lay: Layout, losses: list[Call]) -> Iterator[Clue]:
    hidden = hidden_inputs(lay.call)
    if hidden and hidden[0].ndim == 3:
        name = tensor_name(lay.call, hidden[0], output=False)
        clue = _by_size(f"{name} {format_shape(hidden[0])}", hidden[0].shape[1], lay)
        # A state the caller built to fit the RNN's layout says nothing on whether that layout is right.
        if clue is not None and clue.swapped is not False:
            yield dataclasses.replace(clue, weak=True)
    for loss in losses:
        operands = loss_operands(loss) if loss.id > lay.call.id else None
        if operands is None or not operands[0].shape or not operands[1].shape:
            continue
        prediction = flow.input_lineage(loss, loss.inputs.index(operands[0]))
        row_origins = origins(prediction[0])
        if row_origins not in ({lay.batch[0].origin}, {lay.time[0].origin}):
            continue
        rows = operands[1].shape[0]
        clue = _by_size(f"the loss target {format_shape(operands[1])} {at_line(loss)}", rows, lay)
        # Predictions with a row per time step only tell something when the
        # target has as many rows: then time was the batch all along.
        per_step = row_origins == {lay.time[0].origin}
        if clue is not None and not (per_step and clue.swapped is False):
            yield clue


def _across_passes(lay: Layout, group: list[Layout]) -> Iterator[Clue]:
    """The axis the RNN recurs over shrinks in the last pass while its batch axis
    stays: that is how a batch behaves at the end of an epoch (32, 32, then 27)."""
    steps = [one.steps for one in group]
    batches = {one.batch_size for one in group}
    if len(group) < 2 or len(batches) != 1 or lay is not group[0]:
        return
    if len(set(steps[:-1])) == 1 and steps[-1] < steps[0]:
        yield Clue(
            True,
            f"its dim {lay.time_dim} is {steps[0]} in every pass but the last, which has "
            f"{steps[-1]}, as a batch size does at the end of an epoch, while dim {lay.batch_dim} "
            f"stays {lay.batch_size}",
        )


def _hint(lay: Layout) -> str:
    wanted = not lay.call.config.get("batch_first")
    source = argument_text(lay.call)
    hint = f"build it with nn.{lay.call.type}(..., batch_first={wanted}), or pass {source}.transpose(0, 1)"
    if hidden_inputs(lay.call):  # the state keeps (num_layers, batch, hidden) in both layouts
        hint += f"; and make the initial state (num_layers, {source}.size({lay.time_dim}), hidden) per batch"
    return hint


def _model_input_batch(flow: TraceLineage, lay: Layout) -> Clue | None:
    """The RNN batches over dim 0 of the model's input, where a DataLoader stacks
    the samples: against this, an h_0 that does not fit is the state's mistake
    (ST007), not the layout's; advising the opposite layout would undo a fix."""
    root = pass_root(lay.call)
    if root is lay.call or root.kind != "module" or not root.inputs or not root.inputs[0].shape:
        return None
    if flow.input_lineage(root, 0)[0] == lay.batch:
        return Clue(
            False,
            f"its batch axis is dim 0 of the model input {format_shape(root.inputs[0])}, "
            f"where a DataLoader stacks the samples",
        )
    return None


def _judge(lay: Layout, clues: list[Clue]) -> Finding | None:
    swapped = [clue.text for clue in clues if clue.swapped]
    agreeing = [clue.text for clue in clues if clue.swapped is False]
    undecided = [clue.text for clue in clues if clue.swapped is None]
    head = (
        f"{call_label(lay.call, 'batch_first')} {at_line(lay.call)} steps through dim {lay.time_dim} of "
        f"its input {format_shape(lay.input)} and takes dim {lay.batch_dim} as the batch"
    )
    if swapped:
        message = f"{head}, but " + "; ".join(swapped)
        if agreeing:
            message += f" (while {'; '.join(agreeing)})"
        return finding("ST001", lay.call, message, _hint(lay), None if not agreeing else "warning")
    if undecided:
        message = f"{head}; the sizes cannot tell whether the data agrees: {undecided[0]}"
        hint = (
            f"trace a batch whose size differs from the sequence length, e.g. "
            f"x[:{lay.batch_size - 1}] of a batch-first x"
        )
        return finding("ST001", lay.call, message, hint, "info")
    return None


@register(
    "ST001",
    "batch-first-mismatch",
    "error",
    "an RNN/LSTM/GRU reads the batch axis as time (batch_first does not match the data)",
)
def check_batch_first(trace: Trace) -> Iterator[Finding]:
    flow = analyze(trace.calls)
    losses = [call for call in trace.calls if is_elementwise_loss(call)]
    layouts = list(first_layouts(flow, trace.calls))
    groups: dict[str, list[Layout]] = {}
    for lay in layouts:
        groups.setdefault(lay.call.name, []).append(lay)
    for lay in layouts:
        clues = [
            *_survival(flow, lay),
            *_time_reductions(flow, lay),
            *_size_clues(flow, lay, losses),
            *_across_passes(lay, groups[lay.call.name]),
        ]
        if clues and all(clue.weak for clue in clues if clue.swapped):
            from_loader = _model_input_batch(flow, lay)
            if from_loader is not None and any(clue.swapped for clue in clues):
                continue  # only the state disagrees, and the data agrees: ST007 is the cause
        found = _judge(lay, clues)
        if found is not None:
            yield found
