"""ST023 class-target-layout: a cross-entropy/NLL target, or input, with a dim the loss does not take.

``F.cross_entropy`` and ``F.nll_loss`` (and their modules) take scores ``(N, C, d1, ...)``
and class indices ``(N, d1, ...)``. Where the data pipeline made the labels, three
layouts come up in public reports, each rejected by PyTorch far from its cause:

- labels of shape ``(N, 1)``: a Dataset returning ``torch.tensor([label])``, labels
  kept as a one-column table (``df[["label"]]``): "0D or 1D target tensor expected,
  multi-target not supported";
- one-hot integer labels ``(N, C)`` (``F.one_hot`` in the Dataset): "Expected floating
  point type for target with class probabilities, got Long";
- scores ``(N, 1, C)`` against ``(N,)``: samples that were already ``(1, F)`` stacked by a
  collate function: the loss reads the unit dim as the classes, "Expected target size
  [N, C], got [N]".

The finding is put on the ``return`` of the user's ``Dataset.__getitem__`` when the
run's loader read one and the wrong dim is the target's (the labels are as the Dataset
made them), else on the loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._class_rows import classes_last, rows_apart
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._dataset_source import sample_return
from shapetrace.analyze.checks._losses import is_class_loss, loss_arguments, loss_operands
from shapetrace.analyze.checks._one_batch import loader_batch_axes
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace


def _layout(prediction: TensorMeta, target: TensorMeta, names: tuple[str, str]) -> tuple[str, str, bool] | None:
    """``(what is wrong, the help, whether it is the target's)`` for a layout of this
    class, else None."""
    pred, goal = names
    p, t = prediction.shape, target.shape
    if len(p) < 2 or target.dtype.is_floating_point or not t or t[0] != p[0]:
        return None
    indices = (p[0], *p[2:])  # what class indices look like
    if t == (*indices, 1) or t == (p[0], 1, *p[2:]):
        where = len(t) - 1 if t == (*indices, 1) else 1
        return (
            f"the target has a dim of size 1 (dim {where}) that the class indices {format_dims(indices)} do not: "
            f"each label is a 1-element tensor, so the batch of them is {format_dims(t)}",
            f"pass {goal}.squeeze({where})",
            True,
        )
    if t == p and len(p) == 2:
        return (
            f"the target is one-hot (integer, {format_dims(t)}) where the loss takes class indices "
            f"{format_dims(indices)} (or float class probabilities)",
            f"pass {goal}.argmax(1) (class indices)",
            True,
        )
    if len(p) >= 3 and p[1] == 1 and t == (p[0], *p[3:]) and p[2] > 1:
        return (
            f"the input has a dim of size 1 in dim 1, where the loss reads the classes: the {p[2]} scores are in "
            "dim 2, past an extra axis the batch was made with (samples of shape (1, ...) stacked)",
            f"pass {pred}.squeeze(1)",
            False,
        )
    return None


@register(
    "ST023",
    "class-target-layout",
    "error",
    "a cross-entropy/NLL target of (N, 1) or one-hot labels, or scores (N, 1, C), where it takes (N,) class indices",
)
def check_class_target_layout(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    for call in trace.calls:
        operands = loss_operands(call) if is_class_loss(call) else None
        if operands is None:
            continue
        names = loss_arguments(call, ("input", "target"))
        found = _layout(*operands, names)
        if found is None:
            # (shapes that fit: lineage tells whether each score meets its own label)
            flow = flow or trace_lineage(trace)
            lined = _by_lineage(trace.calls, flow, call, operands, names, loader_batch_axes(trace, flow))
            if lined is not None:
                yield lined
            continue
        (prediction, target), (why, hint, of_target) = operands, found
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        message = (
            f"{name} {at_line(call)} gets input {format_shape(prediction)} and target {format_shape(target)}: {why}"
            + (" (PyTorch raises)" if call.error is not None else "")
        )
        made = finding("ST023", call, message, hint)
        yield _at_dataset(trace, made) if of_target else _at_batching(trace, prediction, made)


def _by_lineage(
    calls: tuple[Call, ...],
    flow: TraceLineage,
    call: Call,
    operands: tuple[TensorMeta, TensorMeta],
    names: tuple[str, str],
    batch: frozenset[tuple[str, int]],
) -> Finding | None:
    """ST023 where the scores and the target line up by shape but not by their axes
    (``_class_rows.py``): rows flattened in two orders, classes last in a one-hot target."""
    scores, target = (next(k for k, meta in enumerate(call.inputs) if meta is operand) for operand in operands)
    found = (rows_apart(calls, flow, call, scores, target, batch) if batch else None) or classes_last(
        flow, call, scores, target, names
    )
    if found is None:
        return None
    name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
    message = (
        f"{name} {at_line(call)} gets input {format_shape(operands[0])} and target {format_shape(operands[1])}: "
        f"{found[0]}"
    )
    return finding("ST023", found[2] if len(found) == 3 else call, message, found[1])


def _at_batching(trace: Trace, prediction: TensorMeta, found: Finding) -> Finding:
    """The finding on the line that made the model's input (N, 1, ...), when it came so
    from the loader: the user's collate_fn that stacked (1, F) samples, else the
    Dataset's return of them."""
    loaded = [
        root.inputs[0]
        for root in trace.calls
        if root.parent is None and root.kind == "module" and root.inputs and root.inputs[0].ndim >= 3
    ]
    if not loaded or any(meta.shape[:2] != (prediction.shape[0], 1) for meta in loaded):
        return found
    collate = sample_return(trace, "collate")
    if collate is not None:
        where = f"at line {collate.location.lineno}"
        message = f"{found.message}; the batch is as {collate.dataset} {where} stacks samples of shape (1, ...)"
        hint = f"join the samples with torch.cat in {collate.dataset} (torch.stack adds a dim), or {found.hint}"
        return dataclasses.replace(found, location=collate.location, message=message, hint=hint)
    made = sample_return(trace)
    if made is None:
        return found
    where = f"at line {made.location.lineno}"
    message = f"{found.message}; each sample {made.dataset}.__getitem__ returns {where} has a leading dim of size 1"
    hint = f"return {made.sample}.squeeze(0) from {made.dataset}.__getitem__, or {found.hint}"
    return dataclasses.replace(found, location=made.location, message=message, hint=hint)


def _at_dataset(trace: Trace, found: Finding) -> Finding:
    """The finding on the Dataset's return line, whose labels the batch holds as made."""
    made = sample_return(trace)
    if made is None:
        return found
    message = (
        f"{found.message}; the labels are as {made.dataset}.__getitem__ returns them, at line {made.location.lineno}"
    )
    hint = (
        f"return each label as a class index (a 0-d tensor or an int) from {made.dataset}.__getitem__, or {found.hint}"
    )
    return dataclasses.replace(found, location=made.location, message=message, hint=hint)
