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
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._hand_loss import (
    BINARY_OPS,
    complementary_unit_dims,
    operand_texts,
    outer_broadcast,
    same_tensor,
    scalar_reduction,
    unit_dim,
)
from shapetrace.analyze.checks._losses import is_elementwise_loss, loss_arguments, loss_operands
from shapetrace.analyze.checks._similarity_loss import is_similarity, similarity_broadcast
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
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
            flow = flow or analyze(trace.calls)
            found = _hand_written(flow, call)
            if found is not None:
                yield found
            continue
        if is_similarity(call):
            flow = flow or analyze(trace.calls)
            similar = similarity_broadcast(flow, call)
            if similar is not None:
                yield finding("ST005", call, similar[0], similar[1])
            continue
        operands = loss_operands(call) if is_elementwise_loss(call) else None
        if operands is None:
            continue
        prediction, target = operands
        if prediction.shape == target.shape:
            continue
        shape = _broadcast(prediction.shape, target.shape)
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        moved = _unit_dim_moved(prediction.shape, target.shape)
        if moved is not None:
            yield _channels_moved(call, name, prediction, target, shape, moved)
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


def _unit_dim_moved(prediction: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, int] | None:
    """``(k, j)`` when ``target`` is ``prediction`` with its one size-1 dim moved from
    dim ``k`` to dim ``j`` past at least two others, the other dims in order, a shared
    batch first: (B, 1, H, W) against (B, H, W, 1), a map stored channels-last. A unit
    dim moved by one ((B, N, 1) against (B, 1, N)) is a pairwise loss's layout: not this."""
    if len(prediction) != len(target) or len(prediction) < 3 or prediction[0] != target[0]:
        return None
    if prediction.count(1) != 1 or target.count(1) != 1:
        return None
    k, j = prediction.index(1), target.index(1)
    if abs(k - j) < 2 or [s for s in prediction if s != 1] != [s for s in target if s != 1]:
        return None
    return k, j


def _channels_moved(
    call: Call,
    name: str,
    prediction: TensorMeta,
    target: TensorMeta,
    shape: tuple[int, ...] | None,
    moved: tuple[int, int],
) -> Finding:
    """ST005 of a target stored channels-last against a channels-first prediction
    (``_unit_dim_moved``): broadcast (H == W) or refused (PyTorch raises)."""
    outcome = (
        f"they broadcast to {format_dims(shape)}, each element against every element of another axis"
        if shape is not None
        else "PyTorch cannot broadcast them and raises"
    )
    message = (
        f"{name} {at_line(call)} compares input {format_shape(prediction)} with target {format_shape(target)}, "
        f"the input's shape with its size-1 dim moved from dim {moved[0]} to dim {moved[1]} (channels-last "
        f"data against a channels-first prediction): {outcome}"
    )
    order = ", ".join(map(str, _moved_back(len(target.shape), moved)))
    return finding(
        "ST005", call, message, f"use {loss_arguments(call, ('pred', 'target'))[1]}.permute({order}) as the target"
    )


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


_SYMBOLS = {"Sub": "-", "Add": "+", "Mult": "*", "Div": "/"}
_NOUNS = {"-": "difference", "+": "sum", "*": "product", "/": "quotient"}


def _hand_written(flow: TraceLineage, call: Call) -> Finding | None:
    """ST005 of a loss written out by hand (``((pred - y) ** 2).mean()``): its
    comparison broadcasts one tensor's axis against another's (``(N, 1)`` and
    ``(N,)`` to ``(N, N)``) and the result is reduced to one number."""
    a, b = call.inputs
    pairs = outer_broadcast(a, b, call.outputs[0])
    moved = _unit_dim_moved(a.shape, b.shape)
    if not pairs or (complementary_unit_dims(a, b) and moved is None):
        return None  # (size-1 dims written out on both sides: all pairs meant, as in a margin ranking)
    if same_tensor(flow, call):
        return None  # one tensor against itself: all pairs meant (``s[:, None] - s``)
    reduction = scalar_reduction(flow, call)
    if reduction is None:
        return None  # kept as a matrix of pairs, or reduced along an axis: a pairwise quantity
    texts = operand_texts(call)
    symbol = _SYMBOLS[BINARY_OPS[call.name].__name__]
    written = f"{texts[0]} {symbol} {texts[1]}" if texts is not None else f"the {_NOUNS[symbol]}"
    where = "" if reduction.location == call.location else f" {at_line(reduction)}"
    message = (
        f"{written} {at_line(call)} broadcasts {format_shape(a)} and {format_shape(b)} to "
        f"{format_shape(call.outputs[0])}, then {reduction.name}(){where} reduces it to one number: "
        f"a loss written out by hand that compares each prediction with every target, not only its own"
    )
    if moved is not None:  # (B, 1, H, W) against (B, H, W, 1): the second stored channels-last
        order = ", ".join(map(str, _moved_back(len(b.shape), moved)))
        message += (
            f" (the {format_shape(b)} one is stored channels-last: its size-1 dim is at {moved[1]}, not {moved[0]})"
        )
        hint = f"use {texts[0]} {symbol} {texts[1]}.permute({order})" if texts is not None else f"permute it ({order})"
        return finding("ST005", call, message, hint)
    return finding("ST005", call, message, _hand_fix(a, b, texts, symbol))


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
