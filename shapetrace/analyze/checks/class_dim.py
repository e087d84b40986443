"""ST018 class-scores-last: a cross-entropy given its class scores in the last dim.

``F.cross_entropy`` and ``F.nll_loss`` (and their modules) take the class
scores in dim 1, ``(N, C)`` or ``(N, C, d1, ...)``, with class-index targets
``(N, d1, ...)`` (PyTorch's documented layout, the one convolutions give). A
tagger's or a language model's ``Linear`` puts them last, ``(B, T, C)``:
PyTorch then reads dim 1 (``T``) as the classes and raises "Expected target
size [B, C], got [B, T]"; where ``T == C`` the sizes fit and it trains,
silently, on scores read across time.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._losses import is_class_loss, loss_arguments, loss_operands
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

# What a Linear, an Embedding or a convolution makes its output's features of
# (analyze/lineage/module_rules.py): class scores are such a dim.
_MADE_BY_A_LAYER = (":out", ":hidden")


def class_scores_last(prediction: TensorMeta, target: TensorMeta) -> bool:
    """True when the target fits a prediction ``(B, T, C)`` read with its classes
    last: class indices ``(B, T)``, or class probabilities of the prediction's own
    shape (which fit either reading: the lineage tells, see ``_class_dims_fit``)."""
    if len(prediction.shape) < 3:
        return False
    if target.dtype.is_floating_point:
        return target.shape == prediction.shape
    return len(target.shape) == len(prediction.shape) - 1 and prediction.shape[:-1] == target.shape


def _class_dims_fit(prediction: TensorMeta, target: TensorMeta) -> bool:
    """The sizes fit PyTorch's layout too: ``(N, C, d1)`` against ``(N, d1)``, or
    probabilities of the same shape."""
    if target.dtype.is_floating_point:
        return True
    return (prediction.shape[0], *prediction.shape[2:]) == target.shape


def _made_by_a_layer(flow: TraceLineage, call: Call, dim: int) -> str | None:
    """The layer whose output features the prediction's ``dim`` is (``head``), else None."""
    lineage = flow.input_lineage(call, 0)
    made = [origin for origin in origins(lineage[dim]) if origin.endswith(_MADE_BY_A_LAYER)]
    return made[0].rpartition(":")[0] if len(made) == 1 and len(origins(lineage[dim])) == 1 else None


def _moved(text: str, ndim: int) -> str:
    """``logits`` with its last dim moved to dim 1."""
    if ndim == 3:
        return f"{text}.transpose(1, 2)"
    if ndim == 4:
        return f"{text}.permute(0, 3, 1, 2)"
    return f"{text}.movedim(-1, 1)"


@register(
    "ST018",
    "class-scores-last",
    "error",
    "a cross-entropy/NLL loss given its class scores in the last dim, (B, T, C), where it takes them in dim 1",
)
def check_class_scores_last(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    for call in trace.calls:
        operands = loss_operands(call) if is_class_loss(call) else None
        if operands is None or not class_scores_last(*operands):
            continue
        prediction, target = operands
        flow = flow or trace_lineage(trace)
        layer = _made_by_a_layer(flow, call, -1)
        fits = _class_dims_fit(prediction, target)
        if fits and (layer is None or _made_by_a_layer(flow, call, 1) is not None):
            continue  # (N, C, d1) read right, or nothing tells which dim holds the scores
        classes, read = prediction.shape[-1], prediction.shape[1]
        name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
        made = f", made by {layer}" if layer else ""
        message = (
            f"{name} {at_line(call)} gets input {format_shape(prediction)} and target {format_shape(target)}: "
            f"the class scores are in the last dim ({classes} classes{made}), where it takes them in dim 1 "
            f"((N, C) or (N, C, d1, ...)), so it reads dim 1 ({read}) as the classes"
        )
        if fits and target.dtype.is_floating_point:
            message += "; its class probabilities are read the same way, and it trains on scores read across dim 1"
        elif fits:
            message += f"; the sizes fit only because {read} == {classes}, and it trains on scores read across dim 1"
        elif call.error is not None:
            message += " and raises"
        pred, goal = loss_arguments(call, ("logits", "target"))
        ndim = len(prediction.shape)
        if target.dtype.is_floating_point:
            hint = (
                f"pass {_moved(pred, ndim)} and {_moved(goal, ndim)} (classes in dim 1), or flatten both: "
                f"{pred}.reshape(-1, {classes}) and {goal}.reshape(-1, {classes})"
            )
        else:
            hint = (
                f"pass {_moved(pred, ndim)} as the input (classes in dim 1), or flatten both: "
                f"{pred}.reshape(-1, {classes}) and {goal}.reshape(-1)"
            )
        yield finding("ST018", call, message, hint)
