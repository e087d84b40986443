"""ST014 squeeze-drops-batch: ``squeeze()`` without dims on a batch of one.

After global pooling a backbone gives (batch, C, 1, 1), and ``torch.squeeze(x)``
makes (batch, C), until the last batch of a loader holds one sample: then the
batch axis goes too, (C,). A Linear still accepts it; the error, if any, comes
later (BatchNorm1d: "expected 2D or 3D input"), one module away from the cause.

Evidence, either of:

- the same squeeze line ran in another pass, where that dim was larger and, by
  dimension lineage, held that pass's batch axis;
- in a single pass (a size-1 dim holds no lineage of its own): dim 0 of the
  squeezed tensor is, position by position, the N of a PyTorch layer that defines
  it, a batched convolution, pooling or batch norm (``(N, C, H, W)`` for the 2-d
  ones), or, for a squeeze in forward, dim 0 of a model input that a DataLoader
  stacked (``run_info["loaders"]``: its batch size or short last batch) or that was
  larger in another pass of the same model; reached through layers and ops that
  keep dim 0 in place (Linear, element-wise ops, ``bmm``, ``transpose(1, 2)``).
- or, in forward or in the user's loop, the loss that reads the squeezed tensor:
  its target fits the tensor squeezed of its other size-1 dims only (a (1,) target
  for (1, 1) scores, or for (1, 1, 5) class logits), so it keeps the batch of one.

The finding is at the squeeze line, also when nothing fails afterwards.

Limits: a lone batch of one through Linear layers and matmuls, with no DataLoader,
no other pass and no loss reading it, has nothing to tell its leading 1 from any
other; otherwise a squeeze in the user's own loop of what the model returned is
theirs to decide.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, op_text, pass_root, receiver_text
from shapetrace.analyze.checks._losses import is_class_loss, is_elementwise_loss, loss_operands
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.checks.hardcoded_batch import batch_axis
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import permutation, plain_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import CONTAINER_TYPES, PERMUTE_OPS, RESHAPE_OPS
from shapetrace.core.trace import Trace

# Layers whose input and output are (N, C, *spatial) with N in dim 0 when they have
# 2 + k dims (k: the 1d/2d/3d of their name); batch norms always take N first.
_N_FIRST = ("Conv", "ConvTranspose", "LazyConv", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool", "LPPool")
# Ops that may move, cut or join dim 0: the walk back stops at them.
_MOVES_DIM0 = (
    RESHAPE_OPS
    | PERMUTE_OPS
    | {
        "__getitem__",
        "select",
        "narrow",
        "cat",
        "concat",
        "stack",
        "unbind",
        "index_select",
        "gather",
        "chunk",
        "split",
    }
)


def _bare_squeezes(trace: Trace) -> list[Call]:
    return [
        call
        for call in trace.calls
        if call.kind == "op"
        and call.name == "squeeze"
        and call.inputs
        and call.output is not None
        and not plain_args(call)
        and "dim" not in call.kwargs
        and call.location is not None
    ]


def _batch_dims(flow: TraceLineage, call: Call) -> set[int]:
    """The dims of the squeeze's input that hold its pass's batch axis."""
    root = pass_root(call)
    batch = batch_axis(flow, root)
    if batch is None:
        return set()
    return {d for d, dim in enumerate(flow.input_lineage(call, 0)) if batch.origin in origins(dim)}


def _n_dim(call: Call, index: int) -> int | None:
    """Which dim of ``call``'s output ``index`` a PyTorch layer defines as N: dim 0 of
    a batched convolution, pooling or batch norm; an RNN's output (dim 0 or 1 by
    ``batch_first``) and its 3-d h_n/c_n (dim 1); a cell's 2-d output (dim 0)."""
    if call.kind != "module" or call.defined_at is not None or not call.inputs or index >= len(call.outputs):
        return None
    kind, ndim = call.type, call.outputs[index].ndim
    if kind.startswith("BatchNorm"):
        return 0
    if kind[-2:] in ("1d", "2d", "3d") and kind[:-2] in _N_FIRST:
        return 0 if call.inputs[0].ndim == 2 + int(kind[-2]) else None
    if is_rnn(call):
        if kind.endswith("Cell"):
            return 0 if ndim == 2 else None
        if ndim != 3:
            return None  # unbatched
        return 1 if index > 0 or not call.config.get("batch_first") else 0
    return None


def _keeps_dim(call: Call, dim: int) -> bool:
    """True when ``call`` leaves its first input's dim ``dim`` where it was (same
    rank, same size there, and not an op that moves, cuts or joins dims; a permute
    that fixes that dim, ``transpose(1, 2)`` for dim 0, keeps it)."""
    made, given = call.outputs[0] if call.outputs else None, call.inputs[0] if call.inputs else None
    if made is None or given is None or made.ndim != given.ndim or dim >= made.ndim:
        return False
    if made.shape[dim] != given.shape[dim]:
        return False
    if call.kind == "op" and call.name in PERMUTE_OPS:
        order = permutation(call, given.ndim)
        return order is not None and order[dim] == dim
    return not (call.kind == "op" and call.name in _MOVES_DIM0)


def _dim_source(flow: TraceLineage, call: Call, dim: int) -> tuple[Call, int] | tuple[Call, int, int] | None:
    """Where dim ``dim`` of the squeeze's input comes from, position by position:
    ``(layer, dim)`` when a PyTorch layer defines it as its N, ``(pass root, input
    index, dim)`` when it is a dim of what the model was given; None when a call
    on the way moved it."""
    current, index = call, 0
    for _ in range(64):
        source = flow.source(current, index)
        if source is None:
            return None
        if source.as_input:
            if source.call.parent is None:
                return source.call, source.index, dim
            current, index = source.call, source.index  # a user module's input: on to its caller's tensor
            continue
        producer, out = source.call, source.index
        if producer.kind == "module" and (producer.defined_at is not None or producer.type in CONTAINER_TYPES):
            inner = flow.made_inside(producer, out)
            if inner is None:
                return None
            producer, out = inner.call, inner.index
        n = _n_dim(producer, out)
        if n is not None:
            return (producer, dim) if n == dim else None
        if out != 0 or not _keeps_dim(producer, dim):
            return None
        current, index = producer, 0
    return None


def _n_layer(flow: TraceLineage, call: Call, dim: int) -> Call | None:
    """The layer whose N is, position by position, dim ``dim`` of the squeeze's input."""
    found = _dim_source(flow, call, dim)
    return found[0] if found is not None and len(found) == 2 else None


def _model_batch(trace: Trace, flow: TraceLineage, call: Call) -> str | None:
    """How dim 0 of the squeeze's input is the batch axis of what the model was
    given: it is, position by position, dim 0 of a model input that is

    - the size of a DataLoader's batch (its batch size or short last batch) that
      the loader's default collate stacks there; or
    - larger in another pass of the same model, where the rest of that input's
      shape stayed (a batch of 8, 8, then 1).
    """
    found = _dim_source(flow, call, 0)
    if found is None or len(found) != 3 or found[2] != 0:
        return None
    root, index = found[0], found[1]
    given = root.inputs[index]
    if not given.shape:
        return None
    for info in trace.run_info.get("loaders", ()):
        if not isinstance(info, dict) or not info.get("batch_size") or not info.get("default_collate", True):
            continue
        if given.shape[0] in (info["batch_size"], info.get("last_batch")):
            where = f" at {str(info['location']).rpartition('/')[2]}" if info.get("location") else ""
            return (
                f"dim 0 of the model input {format_shape(given)}, stacked by the DataLoader{where} "
                f"(batch_size={info['batch_size']})"
            )
    for other in trace.calls:
        if other.parent is not None or other is root or other.kind != "module" or other.name != root.name:
            continue
        if other.type != root.type or len(other.inputs) <= index:
            continue
        shape = other.inputs[index].shape
        if len(shape) == len(given.shape) and shape[1:] == given.shape[1:] and shape[0] > given.shape[0]:
            return f"dim 0 of the model input {format_shape(given)}, {shape[0]} in another pass"
    return None


def _reader(flow: TraceLineage, call: Call) -> tuple[Call, int] | None:
    """The one call that reads the squeeze's output, also when the squeeze's module
    returns it (``return pooled.squeeze()``: the reader is the caller's loss)."""
    current: Call = call
    for _ in range(8):
        consumers = flow.consumers(current, 0)
        if consumers:
            return consumers[0] if len(consumers) == 1 else None
        parent = current.parent
        made = flow.made_inside(parent, 0) if parent is not None else None
        if parent is None or made is None or made.call is not current or made.index != 0:
            return None
        current = parent
    return None


def _loss_batch(flow: TraceLineage, call: Call) -> str | None:
    """How dim 0 of the squeeze's input is the batch axis a loss reads: the loss given
    the squeezed tensor as its input has a target that fits the tensor with only its
    other size-1 dims squeezed (a (1,) target for (1, 1) scores, a (1,) class target for
    (1, 1, 5) logits), so the target keeps the batch of one that the squeeze dropped."""
    read = _reader(flow, call)
    if read is None or read[1] != 0:
        return None
    loss = read[0]
    elementwise, by_class = is_elementwise_loss(loss), is_class_loss(loss)
    operands = loss_operands(loss) if elementwise or by_class else None
    if operands is None or call.output is None or operands[0].shape != call.output.shape:
        return None
    target = operands[1].shape
    kept = tuple(size for d, size in enumerate(call.inputs[0].shape) if d == 0 or size != 1)
    fits = target == kept if elementwise else len(kept) >= 2 and target == (kept[0], *kept[2:])
    if not fits or target == call.output.shape:
        return None
    name = loss.name if loss.kind == "op" else f"{loss.name} ({loss.type})"
    return f"the batch of the target {format_shape(operands[1])} of {name} {at_line(loss)}"


def _lone_batch_of_one(trace: Trace, flow: TraceLineage, call: Call) -> Finding | None:
    """The finding for a squeeze that removed the batch axis of a batch of one,
    told without another pass of the squeeze (a size-1 dim holds no lineage)."""
    shape = call.inputs[0].shape
    if len(shape) < 2 or call.output is None or call.output.ndim == len(shape):
        return None
    for dim in (d for d, size in enumerate(shape) if size == 1):
        layer = _n_layer(flow, call, dim)
        why = (
            f"the N of {layer.name or layer.type} ({layer.type}) {format_shape(layer.inputs[0])}"
            if layer is not None
            # in forward only: a user's loop squeezing what the model returned is theirs to decide
            else _model_batch(trace, flow, call)
            if call.parent is not None and dim == 0
            else None
        )
        if why is None and dim == 0:
            why = _loss_batch(flow, call)  # a loss whose target keeps the batch of one
        if why is None:
            continue
        keep = [i for i, size in enumerate(shape) if size == 1 and i != dim]
        message = (
            f"{op_text(call)} {at_line(call)} removes every size-1 dim of {format_shape(call.inputs[0])}, "
            f"and this batch has one sample: the batch axis (dim {dim}, {why}) goes too, giving "
            f"{format_shape(call.output)}"
        )
        dims = ", ".join(map(str, keep))
        return finding(
            "ST014", call, message, f"use {receiver_text(call)}.squeeze(({dims}{',' if len(keep) == 1 else ''}))"
        )
    return None


@register(
    "ST014",
    "squeeze-drops-batch",
    "warning",
    "a squeeze() without dims that removed the batch axis of a batch of one sample",
)
def check_squeeze_batch(trace: Trace) -> Iterator[Finding]:
    squeezes = _bare_squeezes(trace)
    if not squeezes:
        return
    flow = trace_lineage(trace)
    for call in squeezes:
        shape = call.inputs[0].shape
        found = None
        for other in squeezes:
            if other.location != call.location or other is call or other.inputs[0].ndim != len(shape):
                continue
            dropped = [d for d in _batch_dims(flow, other) if shape[d] == 1]
            if not dropped:
                continue
            d = dropped[0]
            keep = [i for i, size in enumerate(other.inputs[0].shape) if size == 1]
            squeezed, other_squeezed = call.output, other.output
            if squeezed is None or other_squeezed is None:
                continue
            message = (
                f"{op_text(call)} {at_line(call)} removes every size-1 dim of {format_shape(call.inputs[0])}, "
                f"and this batch has one sample: the batch axis (dim {d}) goes too, giving "
                f"{format_shape(squeezed)} where a batch of {other.inputs[0].shape[d]} gave "
                f"{format_shape(other_squeezed)}"
            )
            dims = ", ".join(map(str, keep))
            hint = f"use {receiver_text(call)}.squeeze(({dims}{',' if len(keep) == 1 else ''}))"
            found = finding("ST014", call, message, hint)
            break
        found = found or _lone_batch_of_one(trace, flow, call)
        if found is not None:
            yield found
