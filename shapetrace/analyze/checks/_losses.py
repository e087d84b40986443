"""Loss calls: element by element (input and target alike), or over class scores."""

from __future__ import annotations

from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.torch_facts import (
    CLASS_LOSS_MODULES,
    CLASS_LOSS_OPS,
    ELEMENTWISE_LOSS_MODULES,
    ELEMENTWISE_LOSS_OPS,
)


def is_elementwise_loss(call: Call) -> bool:
    if call.kind == "op":
        return call.name in ELEMENTWISE_LOSS_OPS
    return is_builtin(call) and call.type in ELEMENTWISE_LOSS_MODULES


def is_class_loss(call: Call) -> bool:
    """A cross-entropy or NLL loss (the functional form inside its module form is left out)."""
    if call.kind == "op":
        parent = call.parent
        return call.name in CLASS_LOSS_OPS and not (parent is not None and is_class_loss(parent))
    return is_builtin(call) and call.type in CLASS_LOSS_MODULES


def loss_operands(call: Call) -> tuple[TensorMeta, TensorMeta] | None:
    """``(input, target)`` of a loss call, passed by position or by name."""
    prediction = call.input_at("0") or call.input_at("input")
    target = call.input_at("1") or call.input_at("target")
    return (prediction, target) if prediction is not None and target is not None else None
