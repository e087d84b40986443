"""A loss comparing one batch with itself: the prediction's batch axis broadcast
against the target's, each on its own dim.

A DataLoader's default collate stacks the samples along dim 0 of every tensor it
yields (PyTorch's ``default_collate``), so the images and the depth maps of a batch
share that axis. A target that the loop moved off it (``depth.unsqueeze(0)``: (1, B,
H, W) against a (B, 1, H, W) prediction) broadcasts each prediction against every
sample's target. By shapes alone this is the layout of a loss over all pairs, meant
(``(B, 1)`` against ``(1, B)``); lineage tells the two apart: there both sides were
shaped for the pairs, here one is the model's output as it returned it, and its batch
meets the same DataLoader batch on another dim.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line, made_by, op_text
from shapetrace.analyze.checks._hand_loss import operand_texts, same_tensor, symbol_of
from shapetrace.analyze.checks._losses import loss_arguments
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.atoms import Lineage
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace

# Ops that give a tensor its dims anew: where a target's batch axis can move.
_PLACING = frozenset({"__getitem__", "unsqueeze", "view", "reshape", "permute", "transpose", "movedim", "t"})
_MAX_STEPS = 24
_STACK = frozenset({"stack"})
# (the lineage loader_batch_axes last read, and its answer: lineage is one per trace, cached)
_last: tuple[TraceLineage, frozenset[tuple[str, int]]] | None = None


def collate_sizes(trace: Trace) -> set[int]:
    """The batch sizes (full and last) of the DataLoaders with a ``collate_fn`` of the user's own."""
    return {
        size
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and not info.get("default_collate", True)
        for size in (info.get("batch_size"), info.get("last_batch"))
        if size
    }


def collate_stack_dim(call: Call, sizes: set[int]) -> int | None:
    """The dim along which a top-level ``torch.stack`` (or ``pad_sequence``) of as many
    tensors as a batch of a custom ``collate_fn`` (``sizes``) stacked them: the batch axis
    it made; None for other calls. ``pad_sequence`` puts it in dim 1 unless given
    ``batch_first=True`` (PyTorch's default: (T, B, *))."""
    if call.name not in ("stack", "pad_sequence") or call.parent_id is not None or call.output is None:
        return None
    if len(call.inputs) not in sizes:
        return None
    if call.name == "pad_sequence":
        return 0 if argument(call, 1, "batch_first", False) is True else 1
    return axis_of(argument(call, 1, "dim", 0), call.output.ndim)


def loader_batch_axes(trace: Trace, flow: TraceLineage) -> frozenset[tuple[str, int]]:
    """The axes (lineage's ``(origin, stride)``) that are a DataLoader's batch: dim 0 of each
    tensor it yielded stacked by the default collate, as the top-level calls that read it saw it
    (``run_info["loader_tensors"]``, by ``Call.tensor_ids``), and the axis a custom
    ``collate_fn``'s ``torch.stack`` of a batch's samples made; empty without a DataLoader.
    Kept for the last lineage asked about: ST005, ST023 and ST029 ask it of one trace."""
    global _last
    if _last is not None and _last[0] is flow:
        return _last[1]
    numbers = trace.run_info.get("loader_tensors")
    yielded = set(numbers) if isinstance(numbers, list) else set()
    sizes = collate_sizes(trace)
    found: set[tuple[str, int]] = set()
    for call in trace.calls:
        if call.parent_id is not None:
            continue
        for index, number in enumerate(call.tensor_ids[: len(call.inputs)]):
            if number in yielded and call.inputs[index].shape:
                found |= flow.outside_axes(flow.input_lineage(call, index)[0])
        stacked = collate_stack_dim(call, sizes) if sizes else None
        if stacked is not None:
            found |= flow.outside_axes(flow.output_lineage(call, 0)[stacked])
    _last = (flow, frozenset(found))
    return _last[1]


def batch_dim(flow: TraceLineage, call: Call, index: int, batch: frozenset[tuple[str, int]]) -> int | None:
    """The dim of input ``index`` of ``call`` that is a DataLoader's batch (``loader_batch_axes``), if one."""
    return _dim_of(flow.input_lineage(call, index), flow, batch)


def returned_by_pass(flow: TraceLineage, call: Call, index: int) -> Call | None:
    """The top-level pass whose output input ``index`` of ``call`` is, through steps that
    keep its shape (``torch.log(pred)``, ``pred.float()``); None when it was reshaped
    on the way (a side shaped for the comparison) or is no pass's output."""
    shape = call.inputs[index].shape
    source = flow.source(call, index)
    for _ in range(_MAX_STEPS):
        if source is None or source.as_input:
            return None
        made = source.call
        if made.outputs[source.index].shape != shape:
            return None
        if made.kind == "module":
            return made if made.parent_id is None else None
        if not made.inputs:
            return None
        source = flow.source(made, 0)
    return None


@dataclass(frozen=True)
class Mover:
    """The op that put the target's batch axis on another dim than the prediction's."""

    call: Call
    from_dim: int  # the batch's dim in the op's input
    to_dim: int  # and in its output


def batch_mover(flow: TraceLineage, call: Call, index: int, batch: frozenset[tuple[str, int]]) -> Mover | None:
    """The op that moved the batch of input ``index`` of ``call`` off the dim it had
    (``depth.unsqueeze(0)``: from dim 0 to dim 1), back through steps that keep the
    batch where it is (``torch.log(target)``)."""
    source = flow.source(call, index)
    for _ in range(_MAX_STEPS):
        if source is None or source.as_input or source.call.kind != "op" or not source.call.inputs:
            return None
        made = source.call
        after = _dim_of(flow.output_lineage(made, source.index), flow, batch)
        before = _dim_of(flow.input_lineage(made, 0), flow, batch) if made.inputs[0].shape else None
        if after is None or before is None:
            return None
        if before != after:
            return Mover(made, before, after) if made.name in _PLACING else None
        source = flow.source(made, 0)
    return None


def batch_maker(flow: TraceLineage, call: Call, index: int, batch: frozenset[tuple[str, int]]) -> Call | None:
    """The custom collate's ``torch.stack`` that made input ``index`` of ``call`` with the
    batch on its dim, back through steps that keep its shape (``.float()``)."""
    made = made_by(flow, call, index, _STACK)
    return made if made is not None and _dim_of(flow.output_lineage(made, 0), flow, batch) is not None else None


def _dim_of(lineage: Lineage, flow: TraceLineage, batch: frozenset[tuple[str, int]]) -> int | None:
    """The one dim of ``lineage`` made of a DataLoader's batch axis; None for none or several."""
    dims = [d for d, dim in enumerate(lineage) if flow.outside_axes(dim) & batch]
    return dims[0] if len(dims) == 1 else None


def unsqueeze_fix(mover: Mover, shape: tuple[int, ...]) -> int | None:
    """The dim ``unsqueeze`` should have been given so that its output has ``shape`` (the
    prediction's), where the mover is an ``unsqueeze`` that gives it another."""
    if mover.call.name != "unsqueeze":
        return None
    source = mover.call.inputs[0].shape
    fits = [d for d in range(len(source) + 1) if (*source[:d], 1, *source[d:]) == shape]
    return fits[0] if len(fits) == 1 else None


def one_batch_finding(
    flow: TraceLineage,
    call: Call,
    pairs: list[tuple[int, int]],
    batch: frozenset[tuple[str, int]],
    shape: tuple[int, ...],
    reduces: str | None,
) -> Finding | None:
    """ST005 of a loss (``call``) that meets a DataLoader's batch axis with itself: the
    model's output as it returned it, its batch on dim ``i``, against a target whose batch
    is on dim ``j``: broadcast pair by pair (``pairs``, to ``shape``: ``depth.unsqueeze(0)``
    for a (B, 1, H, W) prediction), or of the same shape, the sizes equal (a collate's
    ``torch.stack(labels, dim=1)``); then reduced to one number (``reduces``: by what;
    None when it is not). Placed at the op that put the target's batch there where it is
    recorded (the line to change), else at the comparison."""
    a, b = call.inputs[0], call.inputs[1]
    if reduces is None or a.ndim != b.ndim or (not pairs and a.shape != b.shape) or same_tensor(flow, call):
        return None  # (operands of two ranks: a dim one lacks, which the shapes' own finding tells)
    first, second = batch_dim(flow, call, 0, batch), batch_dim(flow, call, 1, batch)
    if first is None or second is None or first == second or (pairs and (first, second) not in pairs):
        return None
    dims = (first, second)
    returned = [k for k in (0, 1) if returned_by_pass(flow, call, k) is not None]
    if len(returned) != 1:
        return None  # both shaped for the comparison: pairs meant (a distance of all pairs of two batches)
    k = returned[0]
    texts = operand_texts(call) if call.kind == "op" else loss_arguments(call, ("input", "target"))
    names = texts or ("the prediction", "the target")
    prediction, target = call.inputs[k], call.inputs[1 - k]
    symbol = symbol_of(call)
    written = f"{names[0]} {symbol} {names[1]}" if symbol and texts else f"{call.name}({names[0]}, {names[1]})"
    outcome = (
        f"so they broadcast to {format_dims(shape)} and each sample's prediction is compared with every sample's target"
        if pairs
        else "so each sample's prediction is compared with a slice of the target across the batch (the "
        "sizes being equal, nothing raises)"
    )
    message = (
        f"{written} {at_line(call)} meets one DataLoader batch ({prediction.shape[dims[k]]} samples) with "
        f"itself: it is dim {dims[k]} of {names[k]} {format_shape(prediction)}, the model's output, and dim "
        f"{dims[1 - k]} of {names[1 - k]} {format_shape(target)}, {outcome} before {reduces} reduces it"
    )
    placed = _placed(flow, call, 1 - k, batch, prediction.shape, dims[k])
    if placed is not None:
        maker, told, help_text = placed
        return finding("ST005", maker, f"{message}; {told}", help_text)
    order = f".movedim({dims[1 - k]}, {dims[k]})"
    if texts is None:
        return finding("ST005", call, message, f"move the target's batch to dim {dims[k]} ({order})")
    operands = [texts[0], texts[1]]
    operands[1 - k] = f"({operands[1 - k]}){order}" if " " in operands[1 - k] else f"{operands[1 - k]}{order}"
    fixed_text = f"{operands[0]} {symbol} {operands[1]}" if symbol else f"{call.name}({operands[0]}, {operands[1]})"
    return finding("ST005", call, message, f"use {fixed_text}: each sample's prediction meets its own target")


def _placed(
    flow: TraceLineage,
    call: Call,
    index: int,
    batch: frozenset[tuple[str, int]],
    shape: tuple[int, ...],
    wanted: int,
) -> tuple[Call, str, str] | None:
    """``(op, what it did, help)`` for the op that put the batch of the target (input
    ``index`` of ``call``) on its dim, where it can be told what to write instead: an
    ``unsqueeze`` given the wrong dim, or a collate's ``torch.stack`` along the wrong one."""
    mover = batch_mover(flow, call, index, batch)
    if mover is not None:
        fixed = unsqueeze_fix(mover, shape)
        if fixed is None:
            return None
        told = (
            f"{op_text(mover.call)} {at_line(mover.call)} moved the target's batch from dim {mover.from_dim} "
            f"to dim {mover.to_dim}"
        )
        return mover.call, told, f"use {op_text(mover.call).rpartition('(')[0]}({fixed}): the batch stays dim {wanted}"
    maker = batch_maker(flow, call, index, batch)
    written = find_call(maker.location, {"stack"}, occurrence=maker.index) if maker is not None else None
    if maker is None or written is None or not written.args:
        return None
    stack = f"{written.receiver}.stack" if written.receiver else "stack"
    told = f"the collate_fn's {stack}({written.args[0]}, ...) {at_line(maker)} stacked the samples along another dim"
    return maker, told, f"use {stack}({written.args[0]}, dim={wanted}): the batch on dim {wanted}, as the model's"


__all__ = [
    "Mover",
    "batch_dim",
    "batch_maker",
    "batch_mover",
    "collate_sizes",
    "collate_stack_dim",
    "loader_batch_axes",
    "one_batch_finding",
    "returned_by_pass",
    "unsqueeze_fix",
]
