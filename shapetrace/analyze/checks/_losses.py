"""Loss calls: element by element (input and target alike), or over class scores; the
lineage of a loss's prediction, and the forward pass that made it."""

from __future__ import annotations

from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.atoms import Lineage
from shapetrace.analyze.lineage.flow import TraceLineage
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


def loss_arguments(call: Call, default: tuple[str, str]) -> tuple[str, str]:
    """How the loss's input and target were written on its line (``branch``,
    ``label``), else ``default``. A functional loss is told among those of its name
    on the line by ``call.index`` (``F.bce(out, y) + F.bce(branch, y4)``: the second
    is ``branch``); a loss module is called under the user's name for it, so any
    two-argument call of the line then."""
    name = call.name.rpartition(".")[2]
    occurrence = call.index if call.kind == "op" else None
    source = find_call(call.location, {name}, 2, occurrence) or find_call(call.location, None, 2)
    return (source.args[0], source.args[1]) if source is not None and len(source.args) >= 2 else default


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


def prediction_lineage(flow: TraceLineage, loss: Call, index: int, root: Call) -> Lineage | None:
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


def passes_before(calls: tuple[Call, ...], losses: list[Call]) -> list[tuple[Call, Call | None]]:
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
