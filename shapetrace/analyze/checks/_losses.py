"""Loss calls whose input and target are compared element by element."""

from __future__ import annotations

from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta

# Functional and module forms; cross-entropy style losses are left out: their
# target has no class dim by design.
ELEMENTWISE_LOSS_OPS = frozenset({
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "soft_margin_loss", "poisson_nll_loss", "kl_div",
    "gaussian_nll_loss",
})
ELEMENTWISE_LOSS_MODULES = frozenset({
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
    "SoftMarginLoss", "PoissonNLLLoss", "KLDivLoss", "GaussianNLLLoss",
})


def is_elementwise_loss(call: Call) -> bool:
    if call.kind == "op":
        return call.name in ELEMENTWISE_LOSS_OPS
    return is_builtin(call) and call.type in ELEMENTWISE_LOSS_MODULES


def loss_operands(call: Call) -> tuple[TensorMeta, TensorMeta] | None:
    """``(input, target)`` of a loss call, passed by position or by name."""
    prediction = call.input_at("0") or call.input_at("input")
    target = call.input_at("1") or call.input_at("target")
    return (prediction, target) if prediction is not None and target is not None else None
