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
- a loss over class scores (cross-entropy, NLL; ``(N, C)`` or ``(N, C, T)``)
  takes its dim 0 as the minibatch: by lineage, that dim is one of the RNN's
  axes. Where ``shapetrace run`` recorded no op between the model and the loss,
  a permuted view of the model's output (``logits.transpose(1, 2)``) is known by
  its strides. Rows that merge both axes (``output.view(-1, vocab)``) tell
  nothing: a seq-first language model merges them the same way;
- passes: the axis the RNN recurs over is the same size in every pass but a
  shorter last one, while its batch axis stays: a short last batch;
- the DataLoader: its default collate stacks the samples along a new dim 0, so
  a model input whose dim 0 has the loader's batch size (or its short last
  batch) holds the samples there; by lineage, that dim is one RNN axis
  (``run_info["loaders"]``, listed by ``shapetrace.trace`` and ``shapetrace run``).

When batch and time have the same size the sizes cannot decide, and the
finding says so rather than guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._batch_first_help import batch_first_help
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root
from shapetrace.analyze.checks._losses import is_class_loss, is_elementwise_loss, loss_operands
from shapetrace.analyze.checks._rnn import Layout, first_layouts, hidden_inputs, ops_after
from shapetrace.analyze.lineage.atoms import Lineage, dim_of, origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.op_args import integer_indices, reduced_axes
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape, tensor_name
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class Clue:
    """One piece of evidence on the data's layout; ``swapped`` when it says
    batch and time are the other way round from what the RNN assumes."""

    swapped: bool | None  # None: sizes collide, it cannot tell
    text: str
    weak: bool = False  # an h_0 the caller built: it follows the caller's belief on the layout
    # A correct model may show it too (a mean cross-entropy is the same whichever axis is
    # its N): alone, it makes a warning, not an error.
    soft: bool = False


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


def _permutation(meta: TensorMeta, base: TensorMeta) -> tuple[int, ...] | None:
    """``p`` with ``meta`` the view ``base.permute(p)``, told by sizes and strides
    (which a permuted view keeps); None unless exactly one fits."""
    if meta.ndim != base.ndim or meta.dtype != base.dtype or not meta.stride or not base.stride:
        return None
    order: list[int] = []
    for size, stride in zip(meta.shape, meta.stride):
        fits = [k for k in range(base.ndim) if (base.shape[k], base.stride[k]) == (size, stride) and k not in order]
        if size != 1 and len(fits) != 1:
            return None
        if not fits:
            return None
        order.append(fits[0])
    return tuple(order)


def _prediction_lineage(flow: TraceLineage, loss: Call, index: int, root: Call) -> Lineage | None:
    """The lineage of a loss's prediction. Where its producer was not recorded
    (``shapetrace run`` records no op outside the model but losses), a permuted
    view of the forward pass's output is known by its strides."""
    if flow.source(loss, index) is not None:
        return flow.input_lineage(loss, index)
    meta = loss.inputs[index]
    for j, out in enumerate(root.outputs):
        order = _permutation(meta, out)
        if order is not None:
            lineage = flow.output_lineage(root, j)
            return tuple(lineage[k] for k in order)
    return None


def _class_losses(flow: TraceLineage, lay: Layout, losses: list[tuple[Call, Call | None]]) -> Iterator[Clue]:
    """A cross-entropy/NLL loss after the pass takes its dim 0 as the batch (N):
    by lineage, that dim is one RNN axis, the batch or the time it steps through."""
    root = pass_root(lay.call)
    for loss, after in losses:
        prediction = loss.input_at("0") or loss.input_at("input")
        if prediction is None or prediction.ndim < 2 or not (after is root or pass_root(loss) is root):
            continue
        lineage = _prediction_lineage(flow, loss, loss.inputs.index(prediction), root)
        if lineage is None or len(lineage[0]) != 1:
            continue  # unknown, or rows that merge axes (N*T): no evidence either way
        rows = lineage[0][0].origin
        label = f"{op_text(loss) if loss.kind == 'op' else loss.name or loss.type} {at_line(loss)}"
        if rows == lay.time[0].origin:
            yield Clue(
                True,
                f"{label} takes dim 0 of its input {format_shape(prediction)} as the batch (N), and that "
                f"dim is the axis the {lay.call.type} steps through",
                soft=True,
            )
        elif rows == lay.batch[0].origin:
            yield Clue(False, f"{label} takes the {lay.call.type}'s batch axis as its batch (N)")


def _passes_before(calls: tuple[Call, ...], losses: list[Call]) -> list[tuple[Call, Call | None]]:
    """Each loss with the forward pass that ran last before it (a top-level module
    call that is no loss), which made its prediction."""
    paired: list[tuple[Call, Call | None]] = []
    last: Call | None = None
    wanted = {loss.id for loss in losses}
    for call in calls:
        if call.id in wanted:
            paired.append((call, last))
        elif call.parent is None and call.kind == "module" and not (is_class_loss(call) or is_elementwise_loss(call)):
            last = call
    return paired


def _loader_batch(trace: Trace, flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """Dim 0 of a model input is a DataLoader's batch axis (its size is the loader's
    batch size or short last batch, and the loader's default collate stacks there):
    by lineage, which RNN axis is it?"""
    loaders = [
        info
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and info.get("batch_size") and info.get("default_collate", True)
    ]
    root = pass_root(lay.call)
    if not loaders or root is lay.call:
        return
    for index, meta in enumerate(root.inputs):
        if not meta.shape:
            continue
        size, dim0 = meta.shape[0], flow.input_lineage(root, index)[0]
        loader = next((info for info in loaders if size in (info["batch_size"], info.get("last_batch"))), None)
        if loader is None or dim0 not in (lay.time, lay.batch):
            continue
        where = f" at {loader['location'].rpartition('/')[2]}" if loader.get("location") else ""
        what = f"dim 0 of the model input {format_shape(meta)}"
        batches = f"the DataLoader{where} (batch_size={loader['batch_size']})"
        if lay.batch_size == lay.steps:
            yield Clue(None, f"{what} is the batch of {batches}, and batch and time are both {size}")
        elif dim0 == lay.time:
            yield Clue(True, f"{what} is the batch of {batches}, and it is the axis the {lay.call.type} steps through")
        else:
            yield Clue(False, f"{what} is the batch of {batches}")
        return


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


def _judge(flow: TraceLineage, lay: Layout, clues: list[Clue]) -> Finding | None:
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
        soft = all(clue.soft for clue in clues if clue.swapped)
        return finding("ST001", lay.call, message, batch_first_help(flow, lay), "warning" if agreeing or soft else None)
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
    class_losses = _passes_before(trace.calls, [call for call in trace.calls if is_class_loss(call)])
    layouts = list(first_layouts(flow, trace.calls))
    groups: dict[str, list[Layout]] = {}
    for lay in layouts:
        groups.setdefault(lay.call.name, []).append(lay)
    for lay in layouts:
        clues = [
            *_survival(flow, lay),
            *_time_reductions(flow, lay),
            *_size_clues(flow, lay, losses),
            *_class_losses(flow, lay, class_losses),
            *_loader_batch(trace, flow, lay),
            *_across_passes(lay, groups[lay.call.name]),
        ]
        if clues and all(clue.weak for clue in clues if clue.swapped):
            from_loader = _model_input_batch(flow, lay)
            if from_loader is not None and any(clue.swapped for clue in clues):
                continue  # only the state disagrees, and the data agrees: ST007 is the cause
        found = _judge(flow, lay, clues)
        if found is not None:
            yield found
