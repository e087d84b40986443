"""ST010 feature-mismatch: an input whose feature dim is not what the module was built for.

Compares the recorded input with the module's config: a Linear's last dim
with ``in_features``, an RNN's with ``input_size``, a convolution's dim 1
with ``in_channels``, a norm's with its feature count. The hint tells apart
data in the wrong layout (the size sits in another dim: transpose), a
missing feature dim, and a module built too small (a Linear after a
bidirectional LSTM needs ``2 * hidden_size``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import (
    argument_text,
    at_line,
    call_label,
    op_text,
    pass_root,
    receiver_text,
    written_sizes,
)
from shapetrace.analyze.checks._dataset_source import sample_return
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.module_rules import hidden_origin, is_builtin
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import CELL_TYPES, RNN_TYPES
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class Expectation:
    """Which input dim must equal which config value."""

    dim: int  # -1: last; 1: channels
    key: str
    min_ndim: int = 1  # fewer dims: an unbatched input, where dim 1 is not the channels


_EXPECTED = {
    **dict.fromkeys(("Linear", "Bilinear"), Expectation(-1, "in_features")),
    **dict.fromkeys((*RNN_TYPES, *CELL_TYPES), Expectation(-1, "input_size")),
    **dict.fromkeys(("Conv1d", "ConvTranspose1d"), Expectation(1, "in_channels", 3)),
    **dict.fromkeys(("Conv2d", "ConvTranspose2d"), Expectation(1, "in_channels", 4)),
    "Conv3d": Expectation(1, "in_channels", 5),
    "BatchNorm1d": Expectation(1, "num_features", 2),
    "BatchNorm2d": Expectation(1, "num_features", 4),
    "LayerNorm": Expectation(-1, "normalized_shape"),
    "MultiheadAttention": Expectation(-1, "embed_dim"),
}


def _wanted(call: Call, expectation: Expectation) -> int | None:
    value = call.config.get(expectation.key)
    if isinstance(value, tuple):  # LayerNorm's normalized_shape: its last size
        value = value[-1] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bidirectional_source(flow: TraceLineage, call: Call, size: int) -> Call | None:
    """The bidirectional RNN whose whole output width reached this input."""
    last = {atom.origin for atom in flow.input_lineage(call, 0)[-1]}
    return next(
        (
            rnn
            for rnn in pass_root(call).walk()
            if is_rnn(rnn)
            and rnn.config.get("bidirectional")
            and hidden_origin(rnn) in last
            and size == 2 * rnn.config.get("hidden_size", 0)
        ),
        None,
    )


def _hint(flow: TraceLineage, call: Call, expectation: Expectation, wanted: int) -> str:
    meta = call.inputs[0]
    axis = expectation.dim % meta.ndim
    got = meta.shape[axis]
    source = argument_text(call)
    order = _layout_fix(meta.shape, axis, wanted)
    if order is not None:
        if len(order) > 3 and order[1] == meta.ndim - 1 and order[2] == 1:
            return f"the channels are in the last dim (channels-last data): pass {source}{_moved(order)}"
        return f"the features are in dim {order[axis]}: pass {source}{_moved(order)}"
    if expectation.key == "input_size" and wanted == 1 and meta.ndim == 2:
        return f"add the feature dim: pass {source}.unsqueeze(-1)"
    rnn = _bidirectional_source(flow, call, got)
    if rnn is not None:
        return f"{rnn.name} is bidirectional: build nn.{call.type}({got}, ...) (2 * hidden_size features)"
    flattened = _flattened_sizes(flow, call) if expectation.key == "in_features" else None
    if flattened is not None:
        product, source = flattened
        out_features = call.config.get("out_features", "...")
        return f"{source} makes {got} features ({product}): build {call.name} as nn.Linear({product}, {out_features})"
    where = "last dim" if axis == meta.ndim - 1 else f"dim {axis}"
    return f"build nn.{call.type} with {expectation.key}={got}, or make the input's {where} {wanted}"


def _as_written(call: Call) -> str:
    """``x.view(x.size(0), -1)`` as the line writes it, else as recorded (``x.view(4, -1)``)."""
    written = written_sizes(call) if call.name in ("view", "reshape") else None
    return f"{receiver_text(call)}.{call.name}({', '.join(written)})" if written else op_text(call)


def _flattened_sizes(flow: TraceLineage, call: Call) -> tuple[str, str] | None:
    """``("16 * 5 * 5", "torch.flatten of (4, 16, 5, 5)")`` when a Linear's input is a
    feature map whose trailing dims a flatten, view or reshape merged into its last
    dim: the sizes a user writes as ``in_features`` (LeNet's ``16 * 5 * 5``)."""
    source = flow.source(call, 0)
    if source is None or source.as_input or not source.call.inputs:
        return None
    made, before = source.meta.shape, source.call.inputs[0].shape
    kept = len(made) - 1
    if len(before) <= len(made) or tuple(before[:kept]) != tuple(made[:kept]):
        return None
    merged = before[kept:]
    if math.prod(merged) != made[-1]:
        return None
    what = _as_written(source.call) if source.call.kind == "op" else source.call.name
    return " * ".join(str(size) for size in merged), f"{what} of {format_shape(source.call.inputs[0])}"


def _layout_fix(shape: tuple[int, ...], axis: int, wanted: int) -> tuple[int, ...] | None:
    """The order of dims that puts the features in ``axis``: a channels-last batch
    ``(B, H, W, C)`` for a convolution moves its last dim to 1, the rest keep their
    order (``permute(0, 3, 1, 2)``; a transpose would swap H and W too); else the
    last dim holding the wanted size is swapped with ``axis``. None when none holds it."""
    elsewhere = [i for i, size in enumerate(shape) if size == wanted and i != axis]
    if not elsewhere:
        return None
    order = list(range(len(shape)))
    if axis == 1 and elsewhere[-1] == len(shape) - 1:
        return (0, len(shape) - 1, *range(1, len(shape) - 1))
    order[axis], order[elsewhere[-1]] = order[elsewhere[-1]], order[axis]
    return tuple(order)


def _moved(order: tuple[int, ...] | list[int]) -> str:
    """``.transpose(1, 2)`` for a swap of two dims, else ``.permute(...)``."""
    moved = [i for i, j in enumerate(order) if i != j]
    if len(moved) == 2:
        return f".transpose({moved[0]}, {moved[1]})"
    return f".permute({', '.join(map(str, order))})"


def _from_dataset(trace: Trace, flow: TraceLineage, call: Call, order: tuple[int, ...], found: Finding) -> Finding:
    """The finding moved to the Dataset line that makes the samples, when the layer got
    the batch as loaded (the model's input, dims untouched): the layout is the data's."""
    made = sample_return(trace)
    root = pass_root(call)
    if made is None or order[0] != 0 or root is call or not root.inputs:
        return found
    if flow.input_lineage(call, 0) != flow.input_lineage(root, 0):
        return found
    per_sample = _moved([i - 1 for i in order[1:]])
    hint = (
        f"return {made.sample}{per_sample} from {made.dataset}.__getitem__ (a batch of them is what "
        f"{call_label(call)} takes), or {found.hint.partition(': ')[2]}"
    )
    message = (
        f"{found.message}; the batch is as {made.dataset}.__getitem__ makes its samples, at line {made.location.lineno}"
    )
    return dataclasses.replace(found, location=made.location, message=message, hint=hint)


@register("ST010", "feature-mismatch", "error", "a Linear/LSTM input's last dim does not match in_features/input_size")
def check_features(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    for call in trace.calls:
        expectation = _EXPECTED.get(call.type) if is_builtin(call) else None
        meta = call.inputs[0] if expectation is not None and call.inputs else None
        if expectation is None or meta is None or meta.ndim < expectation.min_ndim:
            continue
        wanted = _wanted(call, expectation)
        axis = expectation.dim % meta.ndim
        if wanted is None or meta.shape[axis] == wanted:
            continue
        where = "last dim" if expectation.dim == -1 else f"dim {axis}"
        message = (
            f"{call_label(call, expectation.key)} {at_line(call)} got {format_shape(meta)}: "
            f"its {where} is {meta.shape[axis]}, not {wanted}"
        )
        found = finding("ST010", call, message, _hint(flow, call, expectation, wanted))
        order = _layout_fix(meta.shape, axis, wanted)
        # one dim holds the wanted size: the data's layout; two (a square image of the
        # wanted size) tell a layer built for the wrong size as well
        unique = meta.shape.count(wanted) == 1
        yield _from_dataset(trace, flow, call, order, found) if order is not None and unique else found
