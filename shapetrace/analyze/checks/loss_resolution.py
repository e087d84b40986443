"""ST016 loss-resolution-mismatch: a dense prediction and its target at different sizes.

A network that pools (three ``MaxPool2d(2)``) outputs a map at 1/8 of its
input's resolution; a target loaded at full resolution then meets a
prediction 8 times smaller in each spatial dim, and PyTorch raises "The size
of tensor a (16) must match the size of tensor b (128) at non-singleton
dimension 3". The finding names the calls that shrank (or grew) the
prediction's axes, from the lineage, and the factor; for a loss written by
hand, at the subtraction that raised (``et - gt``). A resize given its size
as (width, height), ``F.interpolate(d, size=(w, h))``, makes a prediction whose
last two dims are the target's swapped; the finding names that resize.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, pass_root
from shapetrace.analyze.checks._hand_loss import operand_texts
from shapetrace.analyze.checks._losses import loss_arguments, loss_operands
from shapetrace.analyze.checks._one_batch import returned_by_pass
from shapetrace.analyze.checks.class_dim import class_scores_last
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import argument
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.torch_facts import LOSS_OPS
from shapetrace.core.trace import Trace

_CLASS_TARGET_OPS = frozenset({"cross_entropy", "nll_loss"})
_CLASS_TARGET_MODULES = frozenset({"CrossEntropyLoss", "NLLLoss"})
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _is_loss(call: Call) -> bool:
    if call.kind == "op":
        return call.name in LOSS_OPS
    return is_builtin(call) and call.type.endswith("Loss")


def _class_target(call: Call) -> bool:
    """Cross-entropy style: the target has no class dim, (N, H, W) for (N, C, H, W)."""
    return call.name in _CLASS_TARGET_OPS if call.kind == "op" else call.type in _CLASS_TARGET_MODULES


def _factors(pred: tuple[int, ...], goal: tuple[int, ...]) -> dict[int, tuple[int, int]] | None:
    """``{dim of the prediction: (its size, the target's)}`` for the dims that
    differ by a whole factor, all in the same direction; None otherwise."""
    if len(pred) != len(goal) or len(pred) < 2 or pred[0] != goal[0]:
        return None
    differ = {k: (a, b) for k, (a, b) in enumerate(zip(pred, goal)) if a != b}
    if not differ or any(1 in pair for pair in differ.values()):
        return None  # equal, or broadcasting (ST005)
    smaller = {a < b for a, b in differ.values()}
    if len(smaller) != 1 or any(max(a, b) % min(a, b) for a, b in differ.values()):
        return None
    ratios = {max(a, b) // min(a, b) for a, b in differ.values()}
    return differ if len(ratios) == 1 else None


def _swapped(pred: tuple[int, ...], goal: tuple[int, ...]) -> bool:
    """True when the prediction's last two dims are the target's, height and width
    traded (``(N, C, 48, 32)`` against ``(N, C, 32, 48)``), the dims before them equal."""
    if len(pred) != len(goal) or len(pred) < 3 or pred[:-2] != goal[:-2]:
        return False
    return pred[-2] != pred[-1] and pred[-2:] == goal[-2:][::-1] and 1 not in pred[-2:]


def _swapped_finding(flow: TraceLineage, trace: Trace, loss: Call, prediction, target, offset: int) -> Finding:
    """ST016 for a prediction whose height and width were traded by a resize."""
    ndim = len(target.shape)
    dims = [ndim - 2 + offset, ndim - 1 + offset]
    resizers = [c for c in _resizers(flow, trace, loss, dims) if _sized(c)]
    name = loss.name if loss.kind == "op" else f"{loss.name} ({loss.type})"
    height, width = target.shape[-2:]
    message = (
        f"{name} {at_line(loss)} compares input {format_shape(prediction)} with target "
        f"{format_shape(target)}: the prediction's last two dims are the target's with height and "
        f"width swapped"
    )
    if resizers:  # ops recorded: the resize is named (the help stays the same without them)
        message += f", resized by {_describe(resizers)}, which takes size=(height, width)"
    hint = (
        f"resize the prediction to size=({height}, {width}), (height, width) as F.interpolate and "
        f"nn.Upsample take it (size=x.shape[-2:]), not (width, height)"
    )
    return finding("ST016", loss, message, hint)


def _sized(call: Call) -> bool:
    """A resize given its output size: ``F.interpolate(x, size=...)``, ``nn.Upsample(size=...)``,
    an adaptive pooling."""
    if call.kind == "op":
        return call.name in ("interpolate", "upsample", "adaptive_avg_pool2d", "adaptive_max_pool2d")
    return call.type in ("Upsample", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d")


def _resizers(flow: TraceLineage, trace: Trace, loss: Call, dims: list[int], index: int = 0) -> list[Call]:
    """The calls that changed the length of ``dims`` of the loss's input ``index`` (the
    prediction's by default), by lineage."""
    lineage = flow.input_lineage(loss, index)
    # (a loss module called at the top level takes what the script made as given axes: their
    # origins too, where the script's own op resized them)
    atoms = [dim[0] for k in dims if k < len(lineage) and len(dim := lineage[k]) == 1]
    wanted = {atom.origin for atom in atoms} | {flow.outside_axis(atom).origin for atom in atoms}
    found = []
    for call in trace.calls:
        if call.id >= loss.id or (call.kind == "module" and call.children) or not call.outputs or not call.inputs:
            continue
        before = {d[0].origin: d[0].size for d in flow.input_lineage(call, 0) if len(d) == 1}
        after = {d[0].origin: d[0].size for d in flow.output_lineage(call, 0) if len(d) == 1}
        if any(origin in before and origin in after and before[origin] != after[origin] for origin in wanted):
            found.append(call)
    return found


def _kind(call: Call) -> str:
    """``MaxPool2d(2)``, ``Conv2d(stride=2)``, ``max_pool2d``: how a call resized."""
    if call.kind == "op":
        return call.name
    config = call.config
    if "Pool" in call.type and "kernel_size" in config:
        stride = config.get("stride")
        size = config["kernel_size"]
        return f"{call.type}({size})" if stride in (None, size) else f"{call.type}({size}, stride={stride})"
    if "upscale_factor" in config:  # PixelShuffle
        return f"{call.type}({config['upscale_factor']})"
    if "stride" in config:
        stride = config["stride"]
        stride = stride[0] if isinstance(stride, tuple) and len(set(stride)) == 1 else stride
        return f"{call.type}(stride={stride})"
    return call.type


def _describe(calls: list[Call]) -> str:
    """``three MaxPool2d(2) (frontend.0.2, frontend.1.2, frontend.2.2)``."""
    groups: dict[str, list[str]] = {}
    for call in calls:
        where = (
            call.name
            if call.kind == "module" and call.name
            else (f"line {call.location.lineno}" if call.location is not None else "?")
        )
        groups.setdefault(_kind(call), []).append(where)
    parts = []
    for kind, names in groups.items():
        count = _NUMBERS.get(len(names), str(len(names))) + " " if len(names) > 1 else ""
        parts.append(f"{count}{kind} ({', '.join(dict.fromkeys(names))})")
    return ", ".join(parts)


@register(
    "ST016",
    "loss-resolution-mismatch",
    "error",
    "a dense prediction and its target at different resolutions (the output pooled by 8, the target not)",
)
def check_loss_resolution(trace: Trace) -> Iterator[Finding]:
    flow = None
    for call, prediction, target, name, texts in _compared(trace):
        if _class_target(call) and class_scores_last(prediction, target):
            continue  # the class scores in the last dim: ST018
        pred_shape = prediction.shape
        if _class_target(call) and len(pred_shape) == len(target.shape) + 1:
            pred_shape = (pred_shape[0], *pred_shape[2:])  # the class dim has no counterpart
            offset = 1
        else:
            offset = 0
        differ = _factors(pred_shape, target.shape)
        if differ is None:
            if _swapped(pred_shape, target.shape) and name is not None:
                flow = flow or trace_lineage(trace)
                yield _swapped_finding(flow, trace, call, prediction, target, offset)
            continue
        dims = sorted(differ)
        a, b = differ[dims[0]]
        factor = max(a, b) // min(a, b)
        smaller = a < b
        flow = flow or trace_lineage(trace)
        resizers = _resizers(flow, trace, call, [k + offset for k in dims])
        which = ", ".join(str(k + offset) for k in dims)
        compares = (
            f"{name} {at_line(call)} compares input {format_shape(prediction)} with target {format_shape(target)}"
            if name is not None
            else f"{texts[0]} - {texts[1]} {at_line(call)}, a loss written by hand, compares "
            f"{format_shape(prediction)} with {format_shape(target)}"
        )
        message = (
            f"{compares}: the prediction is {'1/' if smaller else ''}{factor}"
            f"{' of' if smaller else ' times'} the target's size in dim{'s' * (len(dims) > 1)} {which}"
        )
        growth = _pass_growth(flow, call, call.inputs.index(prediction), [k + offset for k in dims])
        kept = growth is not None and growth[1] == 1
        if kept:  # (a UNet pools and upsamples back: its layers are not why)
            scale = f"{factor} times" if smaller else f"1/{factor} of"
            message += (
                f"; the model's output keeps its input's size in those dims, so the target was made at {scale} "
                f"the input's size before the model: where the data is loaded (a Dataset or a transform "
                f"resizing the input and the target apart)"
            )
        elif resizers:
            message += f", {'downsampled' if smaller else 'upsampled'} by {_describe(resizers)}"
        short = _short_upscale(trace, growth, target, dims, offset) if growth is not None else None
        if short is not None and not resizers:
            message += (
                f"; the model upsamples its input ×{short[1]}, by {_describe(short[0])}, where the target is "
                f"×{short[2]} of it"
            )
        rescaled = _target_rescale(flow, trace, call, call.inputs.index(target), dims, factor, smaller)
        if rescaled is not None:
            resize, old, new = rescaled
            message += (
                f"; F.interpolate {at_line(resize)} made the target {format_shape(resize.outputs[0])} from "
                f"{format_shape(resize.inputs[0])} with scale_factor={old}, where the prediction's size needs {new}"
            )
            yield finding(
                "ST016", resize, message, f"use scale_factor={new}: the target then has the prediction's size"
            )
            continue
        pred, goal = texts
        size = format_dims([min(differ[k]) if smaller else max(differ[k]) for k in dims])
        full = format_dims([max(differ[k]) if smaller else min(differ[k]) for k in dims])  # the target's
        if offset and kept:  # labels loaded at another size than the input
            hint = (
                f"load the labels at the input's size (resize them as the input is, with mode='nearest'), or "
                f"resize the prediction (the logits) to the labels' size: F.interpolate({pred}, size={full}, "
                f"mode='bilinear')"
            )
        elif offset:  # class labels: resize the logits, never average labels
            hint = (
                f"resize the prediction (the logits) to the labels' size: F.interpolate({pred}, size={full}, "
                f"mode='bilinear'), or the labels with mode='nearest'"
            )
        elif smaller:
            # (batch, channels, *spatial): the pool of as many spatial dims (a signal's is 1-d)
            pool = f"avg_pool{min(3, max(1, target.ndim - 2))}d"
            hint = (
                f"resize the target to the prediction's size, e.g. F.interpolate({goal}, size={size}) "
                f"(a density map: F.{pool}({goal}, {factor}) * {factor ** len(dims)} keeps its sum), "
                f"or upsample the prediction: F.interpolate({pred}, scale_factor={factor})"
            )
            if short is not None:  # an upsampling model built for another scale than its data's
                hint = f"build the model to upsample ×{short[2]}, the data's scale (not ×{short[1]}); or {hint}"
        else:
            hint = (
                f"resize the prediction to the target's size: F.interpolate({pred}, size={size}), "
                f"or the target: F.interpolate({goal}, scale_factor={factor})"
            )
        yield finding("ST016", call, message, hint)


def _pass_growth(flow: TraceLineage, loss: Call, index: int, dims: list[int]) -> tuple[Call, float] | None:
    """``(the pass, the one factor its output grew its input by in dims)`` for a prediction
    (input ``index`` of the loss) that a pass returned: 1 for a model that pools and
    upsamples back (a UNet), 2 for an ESPCN built ×2; None where the dims grew apart."""
    root = returned_by_pass(flow, loss, index)
    pred = loss.inputs[index]
    if root is None or not root.inputs or root.inputs[0].ndim != pred.ndim or not dims:
        return None
    source = root.inputs[0]
    if any(source.shape[k] == 0 for k in dims):
        return None
    grown = {pred.shape[k] / source.shape[k] for k in dims}
    return (root, grown.pop()) if len(grown) == 1 else None


# Modules and ops that grow their input's spatial dims.
_UPSAMPLERS = frozenset(
    {"PixelShuffle", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"}
    | {f"ConvTranspose{n}d" for n in (1, 2, 3)}
)
_UPSAMPLING_OPS = frozenset({"interpolate", "upsample", "pixel_shuffle"} | {f"conv_transpose{n}d" for n in (1, 2, 3)})


def _short_upscale(
    trace: Trace, growth: tuple[Call, float], goal: TensorMeta, dims: list[int], offset: int
) -> tuple[list[Call], int, int] | None:
    """``(the model's upsampling calls, its factor, the data's)`` where the pass grew its
    input by one factor (``growth``: ×2, an ESPCN built with ``upscale=2``) and the target
    ``goal`` is that input grown by a larger one in ``dims`` (the prediction's ``offset``
    past them: ×4, the Dataset downscaled the high-res image by 4): it upsamples too little."""
    root, model = growth
    source = root.inputs[0]
    wanted = {goal.shape[k] / source.shape[k + offset] for k in dims}
    data = wanted.pop() if len(wanted) == 1 else 0.0
    if not (1 < model < data and model.is_integer() and data.is_integer()):
        return None
    layers = [
        call
        for call in trace.calls
        if call is not root
        and pass_root(call) is root
        and (call.type in _UPSAMPLERS if call.kind == "module" else call.name in _UPSAMPLING_OPS)
    ]
    return (layers, int(model), int(data)) if layers else None


def _target_rescale(
    flow: TraceLineage, trace: Trace, loss: Call, index: int, dims: list[int], factor: int, smaller: bool
) -> tuple[Call, float, float] | None:
    """``(resize, its scale_factor, the one that fits)`` where the target (the loss's input
    ``index``) got the sizes of its ``dims`` from one ``F.interpolate`` by a scale factor,
    in the script or the model (labels downsampled by 2 for logits at 1/4): that factor,
    not the model, is what to change. None otherwise."""
    resizers = _resizers(flow, trace, loss, dims, index)
    if len(resizers) != 1 or resizers[0].kind != "op" or resizers[0].name != "interpolate":
        return None
    resize = resizers[0]
    old = argument(resize, 1, "scale_factor")
    if isinstance(old, bool) or not isinstance(old, (int, float)) or argument(resize, 0, "size") is not None:
        return None
    new = old / factor if smaller else old * factor
    return resize, old, round(new, 6)


_SUBTRACTIONS = frozenset({"sub", "__sub__", "rsub", "__rsub__"})


def _compared(trace: Trace) -> Iterator[tuple[Call, TensorMeta, TensorMeta, str | None, tuple[str, str]]]:
    """``(call, prediction, target, name, (prediction text, target text))`` for each
    loss call, and for each subtraction of dense maps of different sizes that raised
    (``et - gt`` of a loss written by hand: name None)."""
    for call in trace.calls:
        operands = loss_operands(call) if _is_loss(call) else None
        if operands is not None:
            name = call.name if call.kind == "op" else f"{call.name} ({call.type})"
            yield call, operands[0], operands[1], name, loss_arguments(call, ("output", "target"))
        elif (
            call.kind == "op"
            and call.name in _SUBTRACTIONS
            and call.error is not None
            and len(call.inputs) == 2
            and call.inputs[0].ndim == call.inputs[1].ndim >= 3
        ):
            texts = operand_texts(call)
            if texts is not None:
                yield call, call.inputs[0], call.inputs[1], None, texts
