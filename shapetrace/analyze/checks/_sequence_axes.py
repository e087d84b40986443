"""The axes of sequence layers' outputs, told by lineage: which axis of a (batch, time,
features) tensor is its time, which its batch and which its features, and the layer
that names them in a message (ST013, ``index_wrong_axis.py``).

A layer whose layout is a setting tells it (an RNN's ``batch_first``, a Conv1d's
(batch, channels, length), a MultiheadAttention's ``batch_first``). A model whose
attention is its own code (Hugging Face's, a hand-written one) has no setting, but its
attention tells which axis is the sequence: ``F.scaled_dot_product_attention`` takes
its query as (N, ..., L, E), the sequence in dim -2 (PyTorch's documented layout), and
hand-written scores ``q @ k.transpose(-2, -1)`` pair the sequence with itself in their
last two dims. The tensors of that model with those batch and time axes and one axis
of features a layer made are its sequences.
"""

from __future__ import annotations

from typing import NamedTuple

from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace


class Axes(NamedTuple):
    """The axes of a sequence layer's output, by atom origin, and how to name them."""

    time: str
    batch: str
    layer: Call
    features: str  # "hidden features", "channels"
    step: str  # "time step", "position"


def sequence_axes(flow: TraceLineage, trace: Trace) -> dict[str, Axes]:
    """``{feature atom origin: its axes}`` of each RNN output (batch, time, hidden)
    or (time, batch, hidden), each Conv1d output (batch, channels, length), and each
    PyTorch layer applied per step to one of those (a Linear's (batch, time, classes)
    logits): its last dim is new, its batch and time axes are the sequence's; then
    each module output of a model whose own attention code tells its layout
    (``_attended``)."""
    axes: dict[str, Axes] = {}
    for call in trace.calls:
        if not call.outputs or call.outputs[0].ndim != 3:
            continue
        out = flow.output_lineage(call, 0)
        if is_rnn(call):
            time_dim = 1 if call.config.get("batch_first") else 0
            time, batch, feature = out[time_dim], out[1 - time_dim], out[2]
            words = ("hidden features", "time step")
        elif is_builtin(call) and call.type in ("Conv1d", "LazyConv1d"):
            batch, feature, time = out
            words = ("channels", "position")
        elif (first := _attention_batch_first(call)) is not None:
            time, batch, feature = (out[1], out[0], out[2]) if first else out
            words = ("features", "position")
        else:
            per_step = _per_step(axes, call, out)
            if per_step is not None:
                axes.setdefault(out[2][0].origin, per_step)
            continue
        if len(feature) == 1 and len(time) == 1 and len(batch) == 1:
            # the outermost layer first (calls are in pre-order): it names the axes
            axes.setdefault(feature[0].origin, Axes(time[0].origin, batch[0].origin, call, *words))
    _add_attended(axes, flow, trace)
    return axes


def _add_attended(axes: dict[str, Axes], flow: TraceLineage, trace: Trace) -> None:
    """The module outputs (batch, time, features) or (time, batch, features) of the
    sequences that ``_attended`` found, the outermost module first; features a layer
    made (not the batch or time axis itself)."""
    attended = _attended(flow, trace)
    for call in trace.calls if attended else ():
        if call.kind != "module" or not call.outputs or call.outputs[0].ndim != 3:
            continue
        out = flow.output_lineage(call, 0)
        if any(len(dim) != 1 for dim in out):
            continue
        first, second, feature = (dim[0].origin for dim in out)
        for time, batch in ((first, second), (second, first)):
            if attended.get(time) == batch and feature not in (time, batch):
                axes.setdefault(feature, Axes(time, batch, call, "features", "position"))


def _attended(flow: TraceLineage, trace: Trace) -> dict[str, str]:
    """``{time origin: batch origin}`` of the sequences the trace's own attention code
    attends over: a ``scaled_dot_product_attention`` query's dims -2 and 0, (N, ..., L, E)
    in PyTorch's documentation; a matmul whose last two dims are one sequence, the
    scores of ``q @ k.transpose(-2, -1)``, and its dim 0."""
    found: dict[str, str] = {}
    for call in trace.calls:
        if call.kind != "op" or not call.outputs:
            continue
        if call.name == "scaled_dot_product_attention" and call.inputs and call.inputs[0].ndim >= 3:
            dims = flow.input_lineage(call, 0)
            time, batch = dims[-2], dims[0]
        elif call.name in ("matmul", "bmm", "__matmul__", "einsum") and call.outputs[0].ndim >= 3:
            dims = flow.output_lineage(call, 0)
            if dims[-1] != dims[-2]:
                continue
            time, batch = dims[-1], dims[0]
        else:
            continue
        if len(time) == 1 and len(batch) == 1 and time[0].origin != batch[0].origin:
            found.setdefault(time[0].origin, batch[0].origin)
    return found


_ATTENTION = frozenset(
    {
        "MultiheadAttention",
        "TransformerEncoder",
        "TransformerEncoderLayer",
        "TransformerDecoder",
        "TransformerDecoderLayer",
        "Transformer",
    }
)


def _attention_batch_first(call: Call) -> bool | None:
    """An attention layer's ``batch_first``: its own (MultiheadAttention), or that of
    the first MultiheadAttention recorded inside it; None when not one or unknown
    (a fused fast path calls no child)."""
    if not is_builtin(call) or call.type not in _ATTENTION:
        return None
    for inner in call.walk():
        if inner.kind == "module" and inner.type == "MultiheadAttention" and "batch_first" in inner.config:
            return bool(inner.config["batch_first"])
    return None


def _per_step(axes: dict[str, Axes], call: Call, out: tuple) -> Axes | None:
    """The axes of a PyTorch layer's (batch, time, features) output when it keeps a
    sequence's batch and time axes in dims 0 and 1 (either order) and makes a new last dim."""
    if not is_builtin(call) or call.type in _KEEPS_FEATURES or any(len(dim) != 1 for dim in out):
        return None
    first, second, last = (dim[0].origin for dim in out)
    if last in axes or last in (first, second):
        return None
    for known in axes.values():
        if {first, second} == {known.time, known.batch}:
            return Axes(known.time, known.batch, call, "output features", known.step)
    return None


# Layers whose output last dim is their input's: no new features to pick from.
_KEEPS_FEATURES = frozenset(
    {"Dropout", "LayerNorm", "ReLU", "GELU", "Tanh", "Sigmoid", "Identity", "Softmax", "LogSoftmax"}
)
