"""ST005 loss-broadcast: a loss whose input and target shapes differ.

``F.mse_loss`` of a ``(N, 1)`` prediction and a ``(N,)`` target broadcasts
them to ``(N, N)``: every prediction is compared with every target, and the
loss is wrong without an error (PyTorch only warns). The BCE losses raise
instead; the finding then explains the error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._losses import is_elementwise_loss, loss_arguments, loss_operands
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
    for longer, shorter, name, other in ((prediction, target, goal, pred), (target, prediction, pred, goal)):
        shape = longer.shape
        for k in range(len(shape)):
            if shape[k] == 1 and shape[:k] + shape[k + 1 :] == shorter.shape:
                if longer is prediction:
                    return f"use {name}.unsqueeze({k}) as the target, or {other}.squeeze({k}) as the input"
                return f"use {name}.unsqueeze({k}) as the input, or {other}.squeeze({k}) as the target"
    return f"make the target the input's shape: {goal}.view_as({pred})"


def reduction_of(call: Call) -> str:
    """``'mean'``, ``'sum'`` or ``'none'``, of a loss op or module (PyTorch's default: mean)."""
    value = call.kwargs.get("reduction") if call.kind == "op" else call.config.get("reduction")
    return value if isinstance(value, str) else "mean"


def _pairwise(prediction: TensorMeta, target: TensorMeta) -> bool:
    """Complementary size-1 dims written out in both operands, ``(m, N, 1)``
    against ``(m, 1, N)``: the shape of a deliberate all-pairs comparison
    (quantile regression, pairwise ranking), not of a missing dim."""
    a, b = prediction.shape, target.shape
    if len(a) != len(b):
        return False
    a_only = any(x == 1 and y != 1 for x, y in zip(a, b))
    b_only = any(y == 1 and x != 1 for x, y in zip(a, b))
    return a_only and b_only


# The binary cross-entropies check the shapes instead of broadcasting them.
_SAME_SHAPE_OPS = frozenset({"binary_cross_entropy", "binary_cross_entropy_with_logits"})
_SAME_SHAPE_MODULES = frozenset({"BCELoss", "BCEWithLogitsLoss"})


def _refuses_other_shapes(call: Call) -> bool:
    return call.name in _SAME_SHAPE_OPS if call.kind == "op" else call.type in _SAME_SHAPE_MODULES


@register("ST005", "loss-broadcast", "error", "a loss whose input and target shapes differ and broadcast")
def check_loss_broadcast(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        operands = loss_operands(call) if is_elementwise_loss(call) else None
        if operands is None:
            continue
        prediction, target = operands
        if prediction.shape == target.shape:
            continue
        shape = _broadcast(prediction.shape, target.shape)
        if shape is None or math.prod(shape) == math.prod(prediction.shape) == math.prod(target.shape):
            continue  # no broadcast (ST016), or one only of size-1 dims: each element meets its own
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        message = (
            f"{name} {at_line(call)} compares input {format_shape(prediction)} with target "
            f"{format_shape(target)}: they broadcast to {format_dims(shape)}"
        )
        reduction = reduction_of(call)
        if shape not in (prediction.shape, target.shape) and _pairwise(prediction, target):
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
