"""ST001's evidence from sizes: an h_0's batch, a loss target's rows, a class loss's N,
a DataLoader's batch (``batch_first.py`` says what each tells and weighs them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, op_text, pass_root
from shapetrace.analyze.checks._losses import loss_operands, prediction_lineage
from shapetrace.analyze.checks._one_batch import collate_sizes, collate_stack_dim
from shapetrace.analyze.checks._rnn import Layout, hidden_inputs, is_rnn
from shapetrace.analyze.lineage.atoms import axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape, tensor_name
from shapetrace.core.trace import Trace


def by_size(what: str, rows: int, lay: Layout) -> Clue | None:
    """A size that should equal the batch size."""
    if lay.batch_size == lay.steps:
        return Clue(None, f"{what} fits both, since batch and time are both {rows}")
    if rows == lay.steps:
        return Clue(True, f"{what} is made for a batch of {rows}, the length of its dim {lay.time_dim}")
    return Clue(False, what) if rows == lay.batch_size else None


def size_clues(flow: TraceLineage, lay: Layout, losses: list[Call]) -> Iterator[Clue]:
    hidden = hidden_inputs(lay.call) if is_rnn(lay.call) else []
    if hidden and hidden[0].ndim == 3:
        name = tensor_name(lay.call, hidden[0], output=False)
        clue = by_size(f"{name} {format_shape(hidden[0])}", hidden[0].shape[1], lay)
        # A state the caller built to fit the RNN's layout says nothing on whether that layout is right.
        if clue is not None and clue.swapped is not False:
            yield dataclasses.replace(clue, weak=True)
    for loss in losses:
        operands = loss_operands(loss) if loss.id > lay.call.id else None
        if operands is None or not operands[0].shape or not operands[1].shape:
            continue
        prediction = flow.input_lineage(loss, loss.inputs.index(operands[0]))
        row_axes = axes(prediction[0])
        if row_axes not in (axes(lay.batch), axes(lay.time)):
            continue
        rows = operands[1].shape[0]
        clue = by_size(f"the loss target {format_shape(operands[1])} {at_line(loss)}", rows, lay)
        # Predictions with a row per time step only tell something when the
        # target has as many rows: then time was the batch all along. Or when the
        # code dropped the batch axis on the way (``out.sum(0)``, ST019): then the
        # target's row per sample says the data is as the layer takes it.
        per_step = row_axes == axes(lay.time)
        dropped = not any(axes(dim) & axes(lay.batch) for dim in prediction)
        if clue is not None and not (per_step and clue.swapped is False and not dropped):
            yield clue


def class_losses(flow: TraceLineage, lay: Layout, losses: list[tuple[Call, Call | None]]) -> Iterator[Clue]:
    """A cross-entropy/NLL loss after the pass takes its dim 0 as the batch (N):
    by lineage, that dim is one RNN axis, the batch or the time it steps through."""
    root = pass_root(lay.call)
    for loss, after in losses:
        prediction = loss.input_at("0") or loss.input_at("input")
        if prediction is None or prediction.ndim < 2 or not (after is root or pass_root(loss) is root):
            continue
        lineage = prediction_lineage(flow, loss, loss.inputs.index(prediction), root)
        if lineage is None:
            continue
        rows = axes(lineage[0])  # rows that merge batch and time (N*T) are neither: no evidence
        label = f"{op_text(loss) if loss.kind == 'op' else loss.name or loss.type} {at_line(loss)}"
        target = loss.input_at("1") or loss.input_at("target")
        if rows == axes(lay.time) and target is not None and target.shape[:1] == (lay.batch_size,) != (lay.steps,):
            # The target has a row per sample of the layer's batch while the
            # predictions have one per step: the code that dropped the batch axis
            # (an index, ST013) is wrong, not the flag; PyTorch raises on the sizes.
            yield Clue(False, f"the target of {label} has one row per sample of its batch ({lay.batch_size})")
        elif rows == axes(lay.time):
            yield Clue(
                True,
                f"{label} takes dim 0 of its input {format_shape(prediction)} as the batch (N), and that "
                f"dim is the axis the {lay.call.type} {lay.verb}",
                soft="loss",
                reading=True,
            )
        elif rows == axes(lay.batch) and target is not None and target.shape[:1] == (lay.steps,) != (lay.batch_size,):
            # The predictions have a row per sample of the layer's batch, the target one per
            # step: the target's samples lie along the axis the layer steps through.
            yield Clue(
                True,
                f"the target {format_shape(target)} of {label} has {lay.steps} rows, the length of dim "
                f"{lay.time_dim}, while its predictions {format_shape(prediction)} have a row per sample of dim "
                f"{lay.batch_dim}",
            )
        elif rows == axes(lay.batch):
            yield Clue(False, f"{label} takes the {lay.call.type}'s batch axis as its batch (N)", reading=True)


def loader_batch(trace: Trace, flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
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
        if lay.batch_size == lay.steps and yielded(trace, root, index):
            # the very tensor the loader yielded: its collate stacked the samples in dim 0
            what = f"the model input {format_shape(meta)} is the very tensor {batches} yielded, its dim 0 the batch"
            if dim0 == lay.time:
                yield Clue(True, f"{what}: the axis the {lay.call.type} {lay.verb}")
            else:
                yield Clue(False, what)
        elif lay.batch_size == lay.steps:
            yield _cut_from_batch(trace, flow, root, lay, batches) or Clue(
                None, f"{what} is the batch of {batches}, and batch and time are both {size}"
            )
        elif dim0 == lay.time:
            yield Clue(True, f"{what} is the batch of {batches}, and it is the axis the {lay.call.type} {lay.verb}")
        else:
            yield Clue(False, f"{what} is the batch of {batches}")
        return


def _cut_from_batch(trace: Trace, flow: TraceLineage, root: Call, lay: Layout, batches: str) -> Clue | None:
    """The model's input was made, before the pass, by ops reading a tensor the DataLoader
    yielded (``torch.cat([bos, tgt[:, :-1]], dim=1)``): that tensor's dim 0 is the
    loader's batch (its collate stacked the samples there), and lineage follows that
    axis into the layer whatever the sizes. None when no such op was recorded (the
    ops outside the model: ``shapetrace run`` records those that made a pass's inputs)."""
    numbers = trace.run_info.get("loader_tensors")
    if not isinstance(numbers, list) or not numbers:
        return None
    for call in _made_before(trace, root):
        for index, number in enumerate(call.input_ids):
            if number not in numbers or not call.inputs[index].shape:
                continue
            batch = axes(flow.input_lineage(call, index)[0])
            what = (
                f"{op_text(call)} {at_line(call)} reads a batch {format_shape(call.inputs[index])} that "
                f"{batches} yielded, and its dim 0 (the samples)"
            )
            if batch == flow.outside_axes(lay.time):
                return Clue(True, f"{what} is the axis the {lay.call.type} {lay.verb}")
            if batch == flow.outside_axes(lay.batch):
                return Clue(False, f"{what} is the {lay.call.type}'s batch axis")
    return None


def collated_batch(trace: Trace, flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """A ``collate_fn`` of the user's own stacked the samples of a batch (its ``torch.stack``,
    recorded as it made the pass's input): the stack axis is the batch, whatever the sizes."""
    sizes = collate_sizes(trace)
    root = pass_root(lay.call)
    if not sizes or root is lay.call:
        return
    for op in _made_before(trace, root):
        axis = collate_stack_dim(op, sizes)
        if axis is None:
            continue
        stacked = axes(flow.output_lineage(op, 0)[axis])
        what = f"the collate_fn's {op.name} {at_line(op)} stacks {len(op.inputs)} samples of a batch on dim {axis}"
        if stacked == flow.outside_axes(lay.time):
            yield Clue(True, f"{what}, the axis the {lay.call.type} {lay.verb}")
            return
        if stacked == flow.outside_axes(lay.batch):
            yield Clue(False, f"{what}, its batch axis")
            return


def _made_before(trace: Trace, root: Call) -> Iterator[Call]:
    """The ops outside any module between the top-level call before ``root`` and it, nearest first."""
    calls = trace.calls
    position = next(k for k, call in enumerate(calls) if call is root)
    for call in reversed(calls[:position]):
        if call.parent_id is not None:
            continue
        if call.kind == "module":
            return
        yield call


def yielded(trace: Trace, root: Call, index: int) -> bool:
    """Whether input ``index`` of the top-level call ``root`` is a tensor a DataLoader
    yielded as it yielded it (``run_info["loader_tensors"]``, by ``Call.tensor_ids``):
    then its dim 0 is the loader's batch whatever the sizes (a transposed copy is not it)."""
    numbers = trace.run_info.get("loader_tensors")
    return isinstance(numbers, list) and index < len(root.tensor_ids) and root.tensor_ids[index] in numbers


def model_input_batch(flow: TraceLineage, lay: Layout) -> Clue | None:
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


__all__ = ["by_size", "class_losses", "collated_batch", "loader_batch", "model_input_batch", "size_clues"]
