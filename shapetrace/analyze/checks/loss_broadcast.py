"""ST005 loss-broadcast: a loss whose input and target shapes differ.

``F.mse_loss`` of a ``(N, 1)`` prediction and a ``(N,)`` target broadcasts
them to ``(N, N)``: every prediction is compared with every target, and the
loss is wrong without an error (PyTorch only warns). The BCE losses raise
instead; the finding then explains the error.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._losses import is_elementwise_loss, loss_operands
from shapetrace.analyze.checks._source import find_call
from shapetrace.core.finding import Finding
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
    return f"make the target the input's shape: {goal}.view_as({pred})"


@register("ST005", "loss-broadcast", "error",
          "a loss whose input and target shapes differ and broadcast")
def check_loss_broadcast(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        operands = loss_operands(call) if is_elementwise_loss(call) else None
        if operands is None:
            continue
        prediction, target = operands
        if prediction.shape == target.shape:
            continue
        shape = _broadcast(prediction.shape, target.shape)
        if shape is None:
            continue
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        message = (f"{name} {at_line(call)} compares input {format_shape(prediction)} with target "
                   f"{format_shape(target)}: they broadcast to {format_dims(shape)}")
        if shape not in (prediction.shape, target.shape):
            message += ", so each prediction is compared with every target"
        # A loss module is called under the user's name for it: any two-argument call then.
        source = find_call(call.location, {call.name.rpartition(".")[2]}, 2) or find_call(call.location, None, 2)
        names = (source.args[0], source.args[1]) if source and len(source.args) >= 2 else ("pred", "target")
        yield finding("ST005", call, message, _fix(prediction, target, names))
