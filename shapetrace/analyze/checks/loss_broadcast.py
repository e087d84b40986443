"""ST005 loss-broadcast: a loss whose input and target shapes differ.

``F.mse_loss`` of a ``(N, 1)`` prediction and a ``(N,)`` target broadcasts
them to ``(N, N)``: every prediction is compared with every target, and the
loss is wrong without an error (PyTorch only warns). The BCE losses raise
instead, and so does any loss where the missing dim, lined up from the right, meets
another size (``(B, T, 1)`` against ``(B, T)``); the finding then explains the error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._call_site import call_with_argument
from shapetrace.analyze.checks._class_rows import one_hot_classes_apart, one_hot_source
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._hand_loss import (
    BINARY_OPS,
    SYMBOLS,
    complementary_unit_dims,
    operand_texts,
    outer_broadcast,
    same_tensor,
    some_scalar_reduction,
    unit_dim,
)
from shapetrace.analyze.checks._losses import is_elementwise_loss, loss_arguments, loss_operands
from shapetrace.analyze.checks._one_batch import loader_batch_axes, one_batch_finding
from shapetrace.analyze.checks._similarity_loss import is_similarity, similarity_broadcast
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        return None


def _fix(prediction: TensorMeta, target: TensorMeta, names: tuple[str, str]) -> str:
    pred, goal = names
    if prediction.shape == (*target.shape, 1):
        return f"use {pred}.squeeze(-1) as the input, or {goal}.unsqueeze(-1) as the target"
    if target.shape == (*prediction.shape, 1):
        return f"use {goal}.squeeze(-1) as the target, or {pred}.unsqueeze(-1) as the input"
    # A size-1 dim one operand has and the other lacks: a channel dim (B, 1, H, W) vs (B, H, W).
    k = unit_dim(prediction, target)
    if k is not None:
        return f"use {goal}.unsqueeze({k}) as the target, or {pred}.squeeze({k}) as the input"
    k = unit_dim(target, prediction)
    if k is not None:
        return f"use {pred}.unsqueeze({k}) as the input, or {goal}.squeeze({k}) as the target"
    return f"make the target the input's shape: {goal}.view_as({pred})"


def reduction_of(call: Call) -> str:
    """``'mean'``, ``'sum'`` or ``'none'``, of a loss op or module (PyTorch's default: mean)."""
    value = call.kwargs.get("reduction") if call.kind == "op" else call.config.get("reduction")
    return value if isinstance(value, str) else "mean"


# The binary cross-entropies check the shapes instead of broadcasting them.
_SAME_SHAPE_OPS = frozenset({"binary_cross_entropy", "binary_cross_entropy_with_logits"})
_SAME_SHAPE_MODULES = frozenset({"BCELoss", "BCEWithLogitsLoss"})


def _refuses_other_shapes(call: Call) -> bool:
    return call.name in _SAME_SHAPE_OPS if call.kind == "op" else call.type in _SAME_SHAPE_MODULES


@register("ST005", "loss-broadcast", "error", "a loss whose input and target shapes differ and broadcast")
def check_loss_broadcast(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    for call in trace.calls:
        if call.kind == "op" and call.name in BINARY_OPS and len(call.inputs) == 2 and len(call.outputs) == 1:
            flow = flow or trace_lineage(trace)
            pairs = outer_broadcast(call.inputs[0], call.inputs[1], call.outputs[0])
            # (equal shapes: a target prepared outside the model, as the script's loss compares it)
            alike = call.parent_id is None and call.inputs[0].shape == call.inputs[1].shape
            # (what the shapes tell first: a size-1 dim one operand lacks has its own help)
            found = _hand_written(flow, call)
            batch = loader_batch_axes(trace, flow) if found is None and (pairs or alike) else None
            if batch:
                found = one_batch_finding(flow, call, pairs, batch, call.outputs[0].shape, _reduces(flow, call))
            if found is not None:
                yield found
            continue
        if is_similarity(call):
            flow = flow or trace_lineage(trace)
            similar = similarity_broadcast(flow, call)
            if similar is not None:
                yield finding("ST005", call, similar[0], similar[1])
            continue
        operands = loss_operands(call) if is_elementwise_loss(call) else None
        if operands is None:
            continue
        prediction, target = operands
        if prediction.shape == target.shape:
            flow = flow or trace_lineage(trace)
            batch = loader_batch_axes(trace, flow)
            reduction = reduction_of(call)
            reduces = f"the loss's {reduction}" if reduction != "none" else None
            found = _classes_apart(flow, call, prediction, target) or (
                one_batch_finding(flow, call, [], batch, prediction.shape, reduces) if batch else None
            )
            if found is not None:
                yield found
            continue
        shape = _broadcast(prediction.shape, target.shape)
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        moved = _dim_moved(prediction.shape, target.shape)
        if moved is not None:
            flow = flow or trace_lineage(trace)
            one_hot = one_hot_source(flow, call, call.inputs.index(target))
            yield _channels_moved(call, name, prediction, target, shape, moved, one_hot)
            continue
        if shape is None:
            found = _unit_dim_refused(call, name, prediction, target)
            if found is not None:
                yield found
            continue  # else no broadcast of a missing dim (ST016: other sizes)
        if math.prod(shape) == math.prod(prediction.shape) == math.prod(target.shape):
            continue  # a broadcast only of size-1 dims: each element meets its own
        message = (
            f"{name} {at_line(call)} compares input {format_shape(prediction)} with target "
            f"{format_shape(target)}: they broadcast to {format_dims(shape)}"
        )
        reduction = reduction_of(call)
        if shape not in (prediction.shape, target.shape) and complementary_unit_dims(prediction, target):
            if reduction == "none":
                continue  # all pairs kept apart, as pairwise losses mean to
            flow = flow or trace_lineage(trace)
            batch = loader_batch_axes(trace, flow)
            pairs = outer_broadcast(prediction, target, TensorMeta("", shape, prediction.dtype, prediction.device))
            found = one_batch_finding(flow, call, pairs, batch, shape, f"the loss's {reduction}") if batch else None
            if found is not None:
                yield found
                continue
            message += (
                f", every input against every target, then reduced ({reduction}): right for a "
                f"pairwise loss; if each input has one target, the shapes should be equal"
            )
            yield finding("ST005", call, message, severity="info")
            continue
        if shape in (prediction.shape, target.shape):
            # One operand repeated along the other's dims: a shared target
            # (a prototype) is as likely as a mistake; no help to apply blindly.
            message += ": the smaller one is repeated along the other's dims; right only if it is shared"
            yield finding("ST005", call, message, severity="info")
            continue
        if _refuses_other_shapes(call):
            message = (
                f"{name} {at_line(call)} compares input {format_shape(prediction)} with target "
                f"{format_shape(target)}: a binary cross-entropy takes only equal shapes (PyTorch raises); "
                f"broadcast, as other losses do, they would make {format_dims(shape)}"
            )
        else:
            message += ", so each prediction is compared with every target"
        names = loss_arguments(call, ("pred", "target"))
        yield finding("ST005", call, message, _fix(prediction, target, names))


def _dim_moved(prediction: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, int] | None:
    """``(k, j)`` when ``target`` is ``prediction`` with one dim moved from dim ``k`` to
    dim ``j`` past at least two others, the other dims in order, a shared batch first:
    (B, 1, H, W) against (B, H, W, 1), a map stored channels-last, or (B, C, H, W) logits
    against a one-hot target (B, H, W, C) (``F.one_hot`` puts the classes last). A dim
    moved by one ((B, N, 1) against (B, 1, N)) is a pairwise loss's layout: not this.
    None where several moves fit (sizes alike)."""
    n = len(prediction)
    if len(target) != n or n < 3 or prediction[0] != target[0] or prediction == target:
        return None
    fits = [
        (k, j)
        for k in range(1, n)
        for j in range(1, n)
        if abs(k - j) >= 2 and (*(rest := prediction[:k] + prediction[k + 1 :])[:j], prediction[k], *rest[j:]) == target
    ]
    return fits[0] if len(fits) == 1 else None


def _channels_moved(
    call: Call,
    name: str,
    prediction: TensorMeta,
    target: TensorMeta,
    shape: tuple[int, ...] | None,
    moved: tuple[int, int],
    one_hot: Call | None,
) -> Finding:
    """ST005 of a target stored channels-last against a channels-first prediction
    (``_dim_moved``): broadcast (H == W) or refused (PyTorch raises); ``one_hot``: the
    target's ``F.one_hot`` (its classes last), if it is one's."""
    outcome = (
        f"they broadcast to {format_dims(shape)}, each element against every element of another axis"
        if shape is not None
        else "PyTorch cannot broadcast them and raises"
    )
    message = (
        f"{name} {at_line(call)} compares input {format_shape(prediction)} with target {format_shape(target)}, "
        f"the input's shape with its dim {moved[0]} (size {prediction.shape[moved[0]]}) moved to dim {moved[1]} "
        f"(channels-last data against a channels-first prediction): {outcome}"
        + (f"; F.one_hot {at_line(one_hot)} made the target, with the classes last" if one_hot else "")
    )
    order = ", ".join(map(str, _moved_back(len(target.shape), moved)))
    return finding(
        "ST005", call, message, f"use {loss_arguments(call, ('pred', 'target'))[1]}.permute({order}) as the target"
    )


def _classes_apart(flow: TraceLineage, call: Call, prediction: TensorMeta, target: TensorMeta) -> Finding | None:
    """ST005 of an ``F.one_hot`` target whose classes are on another dim than the scores'
    (``_class_rows.one_hot_classes_apart``), shapes equal."""
    scores, index = call.inputs.index(prediction), call.inputs.index(target)
    apart = one_hot_classes_apart(flow, call, scores, index)
    if apart is None:
        return None
    why, held, wanted = apart
    name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
    goal = loss_arguments(call, ("input", "target"))[1]
    compares = f"{name} {at_line(call)} compares input {format_shape(prediction)} with target {format_shape(target)}"
    order = ", ".join(map(str, _moved_back(target.ndim, (wanted, held))))
    return finding("ST005", call, f"{compares}: {why}", f"use {goal}.permute({order}) as the target")


def _moved_back(ndim: int, moved: tuple[int, int]) -> list[int]:
    """The ``permute`` order that puts the target's size-1 dim (at ``moved[1]``) back at
    ``moved[0]``, the other dims in order: ``[0, 3, 1, 2]`` for (B, H, W, 1)."""
    order = [d for d in range(ndim) if d != moved[1]]
    order.insert(moved[0], moved[1])
    return order


def _unit_dim_refused(call: Call, name: str, prediction: TensorMeta, target: TensorMeta) -> Finding | None:
    """The loud form of the class: one operand has a size-1 dim the other lacks
    (``(B, T, 1)`` against ``(B, T)``), and PyTorch, lining their dims up from the right,
    meets two other sizes and raises ("The size of tensor a (20) must match the size of
    tensor b (6)"); with B == T it would have broadcast to ``(B, T, T)`` silently."""
    longer, shorter = (prediction, target) if len(prediction.shape) > len(target.shape) else (target, prediction)
    if unit_dim(longer, shorter) is None:
        return None
    which = "input" if longer is prediction else "target"
    message = (
        f"{name} {at_line(call)} compares input {format_shape(prediction)} with target "
        f"{format_shape(target)}: the {which} has a size-1 dim the other lacks, so PyTorch lines their "
        f"dims up from the right and they do not broadcast (with equal sizes there, it would have "
        f"compared each prediction with every target)"
    )
    names = loss_arguments(call, ("pred", "target"))
    return finding("ST005", call, message, _fix(prediction, target, names))


_NOUNS = {"-": "difference", "+": "sum", "*": "product", "/": "quotient"}


def _reduces(flow: TraceLineage, call: Call) -> str | None:
    """What reduces a comparison written by hand to one number (``mean() at line 43``), if anything."""
    reduction = some_scalar_reduction(flow, call)
    if reduction is None:
        return None
    return f"{reduction.name}()" + ("" if reduction.location == call.location else f" {at_line(reduction)}")


def _hand_written(flow: TraceLineage, call: Call) -> Finding | None:
    """ST005 of a loss written out by hand (``((pred - y) ** 2).mean()``): its
    comparison broadcasts one tensor's axis against another's (``(N, 1)`` and
    ``(N,)`` to ``(N, N)``) and the result is reduced to one number."""
    a, b = call.inputs
    pairs = outer_broadcast(a, b, call.outputs[0])
    moved = _dim_moved(a.shape, b.shape)
    if not pairs or (complementary_unit_dims(a, b) and moved is None):
        return None  # (size-1 dims written out on both sides: all pairs meant, as in a margin ranking)
    if same_tensor(flow, call):
        return None  # one tensor against itself: all pairs meant (``s[:, None] - s``)
    reduction = some_scalar_reduction(flow, call)
    if reduction is None:
        return None  # kept as a matrix of pairs, or reduced along an axis: a pairwise quantity
    texts = operand_texts(call)
    symbol = SYMBOLS[BINARY_OPS[call.name].__name__]
    written = f"{texts[0]} {symbol} {texts[1]}" if texts is not None else f"the {_NOUNS[symbol]}"
    where = "" if reduction.location == call.location else f" {at_line(reduction)}"
    message = (
        f"{written} {at_line(call)} broadcasts {format_shape(a)} and {format_shape(b)} to "
        f"{format_shape(call.outputs[0])}, then {reduction.name}(){where} reduces it to one number: "
        f"a loss written out by hand that compares each prediction with every target, not only its own"
    )
    if moved is not None:  # (B, 1, H, W) against (B, H, W, 1): the second stored channels-last
        order = ", ".join(map(str, _moved_back(len(b.shape), moved)))
        message += f" (the {format_shape(b)} one is stored channels-last: its dim {moved[1]} belongs at {moved[0]})"
        hint = f"use {texts[0]} {symbol} {texts[1]}.permute({order})" if texts is not None else f"permute it ({order})"
        return finding("ST005", call, message, hint)
    return finding("ST005", call, message, _fix_at_caller(call, texts) or _hand_fix(a, b, texts, symbol))


def _fix_at_caller(call: Call, texts: tuple[str, str] | None) -> str | None:
    """``use smape(pred.squeeze(1), y) in place of smape(pred, y) at line 62``: where the
    operand with the extra size-1 dim is a parameter of a loss written as a function,
    called once, the fix is at that call: every use of it inside the function (``pred -
    target`` and ``pred.abs() + target.abs()``) then agrees, not only this one."""
    a, b = call.inputs
    for longer, shorter, text in ((a, b, texts[0] if texts else None), (b, a, texts[1] if texts else None)):
        k = unit_dim(longer, shorter)
        if k is None or text is None or not text.isidentifier():
            continue
        dim = -1 if k == len(longer.shape) - 1 else k
        edit = call_with_argument(call.location, text, f".squeeze({dim})")
        if edit is not None:
            old, new, line = edit
            return (
                f"use {new} in place of {old} at line {line}: {text} then has the other operand's shape in "
                f"every use inside {call.location.function}"  # type: ignore[union-attr]
            )
    return None


def _hand_fix(a: TensorMeta, b: TensorMeta, texts: tuple[str, str] | None, symbol: str) -> str:
    """``use pred.squeeze(-1) - y: ...``: the operand with the extra size-1 dim loses it."""
    for longer, shorter in ((a, b), (b, a)):
        k = unit_dim(longer, shorter)
        if k is None:
            continue
        dim = -1 if k == len(longer.shape) - 1 else k
        if texts is None:
            return (
                f"give both operands of {symbol} one shape: squeeze({dim}) the "
                f"{format_shape(longer)} one, or unsqueeze({dim}) the {format_shape(shorter)} one"
            )
        left, right = texts
        squeeze, unsqueeze = f".squeeze({dim})", f".unsqueeze({dim})"
        if longer is a:
            fixed, other = f"{left}{squeeze} {symbol} {right}", f"{left} {symbol} {right}{unsqueeze}"
        else:
            fixed, other = f"{left} {symbol} {right}{squeeze}", f"{left}{unsqueeze} {symbol} {right}"
        return f"use {fixed}: each element then meets its own (or {other})"
    return f"make both operands of {symbol} one shape, each prediction beside its own target"
