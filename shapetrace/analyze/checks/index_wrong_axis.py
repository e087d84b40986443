"""ST013 index-wrong-axis: an index that picks one feature (or one sample) where one time step was meant.

``output[:, :, -1]`` on a batch_first RNN output (batch, time, hidden) takes the
last hidden unit at every step, (batch, time), not the last step (batch, hidden).
It runs whenever the sequence length equals what the next layer expects (a padded
length equal to hidden_size), and then the classifier sees one feature of each
step. The same holds for a Conv1d output (batch, channels, length) read as if it
were (batch, length, channels): ``feats[:, -1, :]`` takes the last channel at every
position. Dimension lineage tells time from features by where each axis was born,
so equal sizes do not hide it: the index drops the layer's feature axis, keeps its
time axis, and the time axis ends up last, where the next layer reads features.
The index may be an integer (``out[..., -1]``, ``out.select(2, -1)``) or a
length-1 slice (``out.narrow(2, -1, 1)``, ``out[:, :, -1:]``) that a flatten or
squeeze then drops. The same axes hold for a PyTorch layer applied per step to such
an output (a Linear's (batch, time, classes) logits), and the reader may be a class
loss (module or functional, past the end of forward), which reads classes in dim 1:
``logits[..., -1]`` feeds it the steps as classes; or ``F.normalize`` along the kept
time axis (an embedding made of one hidden unit at every step). A pool that
removes the feature axis and keeps time (``out.mean(dim=-1)``, ``max``, ``sum``, an
einsum that sums it, ``_dropped_axes.py``) is the same mistake when the next layer
was built for as many features as were pooled (with other sizes it is a pooling
meant so: a head over the steps).

The other way round: an integer index that takes one sample of a sequence layer's
batch axis (an RNN, Conv1d, or attention layer by its MultiheadAttention's
``batch_first``: a seq-first ``nn.TransformerEncoder``'s ``x[:, 0]`` where ``x[0]``
was meant), after which a class loss reads the layer's time axis as its batch N
while its target has as many rows as the batch that was indexed away.

Limits: an index through a tensor whose lineage is unknown; a batch axis picked
where time was meant, with batch == sequence length, cannot be told from a wrong
layout (ST001's ``batch_first``): the finding then gives both fixes
(``_batch_axis_indices``); with other sizes it needs a class loss whose target
reads the result; an attention layer whose fused fast path ran (no
MultiheadAttention call recorded inside) has no known layout.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._attention import flag_text
from shapetrace.analyze.checks._common import argument_text, at_line, call_label, dim_call, op_text, receiver_text
from shapetrace.analyze.checks._dropped_axes import dropped_dims, dropped_hint
from shapetrace.analyze.checks._gather_dim import gather_hint, gathered_for_another_dim
from shapetrace.analyze.checks._losses import is_class_loss, is_elementwise_loss
from shapetrace.analyze.checks._rnn import both_directions_hint, is_rnn
from shapetrace.analyze.checks._sequence_axes import Axes, sequence_axes
from shapetrace.analyze.checks._source import _parse, find_call
from shapetrace.analyze.checks.batch_first import data_agrees, layout_clues, undecided_reading
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import argument, integer_indices
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_PASS_THROUGH = frozenset({"contiguous", "clone", "detach", "to", "float", "relu", "dropout", "tanh"})


def _picks(call: Call, ndim: int) -> dict[int, object]:
    """``{input dim: index}`` for each dim an op keeps one element of: an integer
    index (``out[..., -1]``, ``select``), or a length-1 ``narrow``/slice."""
    picked: dict[int, object] = dict(integer_indices(call, ndim))
    if call.name in ("narrow", "index_select") and call.output is not None:
        dim = argument(call, 0, "dim", None)  # an index_select with one index keeps one unit, as narrow's 1
        if isinstance(dim, int) and -ndim <= dim < ndim and call.output.shape[dim % ndim] == 1:
            picked[dim % ndim] = argument(call, 1, "start", "start") if call.name == "narrow" else "index"
    elif call.name == "gather" and call.output is not None and call.output.ndim == ndim:
        # one unit of ``dim`` at every position of the others (an index of the input's
        # shape but 1 there): ``out.gather(2, last)`` with ``last`` (B, T, 1)
        dim = argument(call, 0, "dim", None)
        if isinstance(dim, int) and -ndim <= dim < ndim:
            kept = [size for d, size in enumerate(call.output.shape) if d != dim % ndim]
            if call.output.shape[dim % ndim] == 1 and kept == [
                s for d, s in enumerate(call.inputs[0].shape) if d != dim % ndim
            ]:
                picked[dim % ndim] = "gather"
    elif call.name == "__getitem__" and call.output is not None and call.output.ndim == ndim:
        for d, (before, after) in enumerate(zip(call.inputs[0].shape, call.output.shape)):
            if after == 1 and before > 1:  # out[:, :, -1:]: a slice, the dim kept
                picked[d] = "slice"
    return picked


# Ops on the way to the next layer: they move data along, the layer still reads the last dim.
_ON_THE_WAY = _PASS_THROUGH | {"view", "reshape", "squeeze", "unsqueeze", "flatten", "relu", "gelu", "sigmoid"}


# Ops that read one dim of their input as a feature vector, by the argument naming it
# (position after the tensor, keyword, default): ``F.normalize(x, dim=1)`` scales
# each row to unit length, an embedding's features.
_FEATURE_READERS = {"normalize": (1, "dim", 1)}


def _read_dim(reader: Call, ndim: int) -> int | None:
    """The dim a ``_FEATURE_READERS`` op reads as features, counted from 0."""
    position, name, default = _FEATURE_READERS[reader.name]
    dim = argument(reader, position, name, default)
    return dim % ndim if isinstance(dim, int) and -ndim <= dim < ndim else None


def _feeds_a_layer(flow: TraceLineage, call: Call) -> tuple[Call, int] | None:
    """The module call that next receives the op's result, and at which input (also
    past the end of forward: a loss given what the model returned)."""
    frontier, seen = [call], set()
    while frontier:
        current = frontier.pop()
        for consumer, k in flow.consumers(current, 0):
            if consumer.id in seen:
                continue
            seen.add(consumer.id)
            if is_elementwise_loss(consumer):
                continue  # compares element by element: it reads no features
            if consumer.kind == "module" and _reads_shape_only(flow, consumer, k):
                continue  # (BART's positions from inputs_embeds[:, :, -1], "needed for the shape only")
            if consumer.kind == "module" or is_class_loss(consumer) or consumer.name in _FEATURE_READERS:
                return consumer, k
            if consumer.name in _ON_THE_WAY:
                frontier.append(consumer)
        parent = current.parent
        if parent is not None and parent.outputs:
            made = flow.made_inside(parent, 0)
            if made is not None and made.call is current and parent.id not in seen:
                seen.add(parent.id)
                frontier.append(parent)  # what forward returned: on to whoever received it
    return None


def _reads_shape_only(flow: TraceLineage, module: Call, k: int) -> bool:
    """Whether a module of the user's (not a built-in layer) that recorded calls inside gave
    its input ``k`` to none of them: its forward read the input's shape alone
    (``bsz, seq_len = x.shape[:2]``), whatever values the index picked."""
    if is_builtin(module):
        return False
    inside = [call for call in module.walk() if call is not module]
    if not inside:
        return False  # nothing recorded inside (ops off): what it reads is not known
    for call in inside:
        for j in range(len(call.inputs)):
            source = flow.source(call, j)
            if source is not None and source.as_input and source.call is module and source.index == k:
                return False
    return True


def _hint(call: Call, picked: int, time: int) -> str | None:
    """``use output[:, -1, :]``: the same index moved from the feature axis to time
    (``x[..., -1]`` written out dim by dim; ``select``/``narrow`` given the time dim)."""
    if call.name == "gather":
        return gather_hint(call, picked, time)
    if call.name == "index_select":  # it keeps the picked dim (length 1): a squeeze after it moves too
        as_written = dim_call(call, 2)
        return f"use {as_written.along(time)}: then squeeze dim {time}, not dim {picked}" if as_written else None
    if call.name in ("select", "narrow"):
        found = find_call(call.location, {call.name}, None, call.index)
        if found is None or not found.args or not found.args[0].lstrip("-").isdigit():
            return None
        return f"use {receiver_text(call)}.{call.name}({', '.join([str(time), *found.args[1:]])})"
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    if tree is None:
        return None
    written = op_text(call)
    ndim = len(call.inputs[0].shape)
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node) == written:
            elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            items = [ast.unparse(item) for item in elements]
            if items.count("...") == 1:
                at = items.index("...")
                items[at : at + 1] = [":"] * (ndim - len(items) + 1)
            items += [":"] * (ndim - len(items))
            if "..." in items or len(items) != ndim or "None" in items:
                return None
            items[picked], items[time] = items[time], items[picked]
            if items[time].endswith(":") and items[time].count(":") == 1 and items[time] != ":":
                # a length-1 slice becomes its index: what follows (a squeeze, a
                # flatten) then meets the features last, whichever dim it dropped
                items[time] = items[time][:-1]
            while len(items) > 1 and items[-1] == ":" and time != len(items) - 1 and picked != len(items) - 1:
                items.pop()
            return f"use {ast.unparse(node.value)}[{', '.join(items)}]"
    return None


@register(
    "ST013",
    "index-wrong-axis",
    "warning",
    "an index that picks one unit of an RNN output's feature axis where one time step was meant",
)
def check_index_wrong_axis(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    axes_of = sequence_axes(flow, trace)
    if axes_of:
        yield from _batch_picked(flow, trace, axes_of)
        yield from gathered_for_another_dim(flow, trace, axes_of)
    for call in trace.calls if axes_of else ():
        if call.kind != "op" or not call.inputs or call.output is None:
            continue
        for operand, dim, index, pooled in _removed(flow, call):
            lineage = flow.input_lineage(call, operand)
            if len(lineage[dim]) != 1 or lineage[dim][0].origin not in axes_of:
                continue
            shape = call.inputs[operand].shape
            if shape[dim] == 1:
                continue  # the one unit there is: a squeeze, not a pick (hidden_size=1)
            axes = axes_of[lineage[dim][0].origin]
            time = next((d for d, axis in enumerate(lineage) if origins(axis) == {axes.time}), None)
            fed = _feeds_a_layer(flow, call)
            if time is None or fed is None:
                continue
            layer, k = fed
            read = flow.input_lineage(layer, k)
            # a class loss reads classes in dim 1 ((N, C) or (N, C, d1...)), a layer its last dim
            loss = is_class_loss(layer) and k == 0
            features = read[1] if loss and len(read) > 1 else read[-1] if read else ()
            if layer.kind == "op" and layer.name in _FEATURE_READERS:
                at = _read_dim(layer, len(read))
                features = read[at] if at is not None else ()
            if not origins(features) or not origins(features) <= {axes.time, axes.batch}:
                continue  # the layer reads features: the index was meant
            if pooled and sum(atom.size for atom in features) != shape[dim]:
                continue  # a layer built for as many steps as there are: a pooling meant so
            which = f"unit {index}" if isinstance(index, int) else "one"
            how = index[0] if pooled else f"takes {which} of"  # type: ignore[index]
            label = f", einsum index {index[1]!r}" if pooled and index[1] else ""  # type: ignore[index]
            message = (
                f"{op_text(call)} {at_line(call)} {how} the {shape[dim]} {axes.features} (dim {dim}{label}) "
                f"of {call_label(axes.layer, 'batch_first')}'s output at every {axes.step}; "
                f"{call_label(layer)} then reads the "
                f"{axes.step + 's' if axes.time in origins(features) else 'batch'} as its "
                f"{'classes' if loss else 'features'}"
            )
            if pooled:
                hint = dropped_hint(call, operand, dim, time) or f"reduce dim {time} (the {axes.step} axis), not {dim}"
            elif axes.layer.config.get("bidirectional") and len(shape) == 3 and time in (0, 1):
                # the last step moved to the time axis is the backward direction's first (ST006)
                hint = both_directions_hint(axes.layer, receiver_text(call, "output"), time)
            else:
                hint = _hint(call, dim, time) or f"index dim {time} (the {axes.step} axis) instead of dim {dim}"
            yield finding("ST013", call, message, hint)
    yield from _batch_axis_indices(trace)


def _batch_axis_indices(trace: Trace) -> Iterator[Finding]:
    """An index taking the last (or, after attention, the first) element of a layer's
    batch axis, where batch and time have one size: the last sample at every step,
    where the last step was meant, or else a wrong ``batch_first`` (ST001 tells
    which when anything else in the trace does; a DataLoader's batch that agrees with
    the flag says the index is wrong; else nothing does)."""
    for lay, clues, collide in layout_clues(trace, colliding_only=True):
        known = data_agrees(clues)
        if not undecided_reading(clues, collide) and not (collide and known):
            continue
        for clue in clues:
            op = clue.op
            if not clue.swapped or op is None or op.name not in _INDEXING:
                continue
            lineage = trace_lineage(trace).input_lineage(op, 0)
            batch, time = lay.where(lineage)
            if batch is None or time is None or batch not in integer_indices(op, len(lineage)):
                continue
            shape = format_shape(op.inputs[0])
            first = bool(lay.call.config.get("batch_first"))
            flag = flag_text(lay.call, not first, lay.call.name)
            source = argument_text(lay.call)
            axis = "time" if lay.verb == "steps through" else "sequence"
            hint = _hint(op, batch, time)
            head = (
                f"{op_text(op)} {at_line(op)} takes one element of dim {batch} of "
                f"{call_label(lay.call, 'batch_first')}'s output {shape}, which it takes as the batch: "
                f"the same sample at every step, not one step of every sample. Batch and time are both "
                f"{lay.batch_size}, so it runs"
            )
            if known:  # the data is as the layer takes it: the index is wrong
                evidence = "; ".join(c.text for c in clues if c.swapped is False and not c.reading)
                message = f"{head}; the layer's layout is the data's ({evidence})"
                hint = hint or f"index dim {time} (the {axis} axis) instead of dim {batch}"
                yield finding("ST013", op, message, hint)
                continue
            other = "seq-first" if first else "batch-first"
            taken = f"(batch, {axis}, ...)" if first else f"({axis}, batch, ...)"
            message = f"{head}; if the data is {other}, the layer's flag is wrong instead (ST001)"
            if hint:
                hint += f": if {source} is {taken} as {lay.call.name} takes it; if it is {other}, {flag} instead"
            else:
                hint = f"index dim {time} (the {axis} axis) instead of dim {batch}; or, if {source} is {other}, "
                hint += flag
            yield finding("ST013", op, message, hint)


_INDEXING = frozenset({"__getitem__", "select", "narrow", "index_select", "gather"})


def _removed(flow: TraceLineage, call: Call) -> Iterator[tuple[int, int, object, bool]]:
    """``(operand, dim, index, pooled)`` for each dim an op keeps one unit of
    (``index``: the integer, or how) or, ``pooled``, sums or pools away (``index``:
    how, in words)."""
    if call.name in _INDEXING:
        for dim, index in _picks(call, len(flow.input_lineage(call, 0))).items():
            yield 0, dim, index, False
    else:
        for operand, dim, how, label in dropped_dims(call):
            yield operand, dim, (how, label), True


def _loss_input_path(flow: TraceLineage, loss: Call) -> Iterator[Call]:
    """The calls behind a loss's input, nearest first: into user modules (what made
    their output), through PyTorch layers and ops by their first input."""
    current, index = loss, 0
    for _ in range(64):
        source = flow.source(current, index)
        if source is None or source.as_input:
            return
        producer = source.call
        while producer.kind == "module" and not is_builtin(producer):
            inner = flow.made_inside(producer, source.index)
            if inner is None:
                return
            source, producer = inner, inner.call
        yield producer
        if not producer.inputs:
            return
        current, index = producer, 0


def _batch_picked(flow: TraceLineage, trace: Trace, sequence_axes: dict[str, Axes]) -> Iterator[Finding]:
    """An integer index that took one sample of a sequence layer's batch axis (a
    seq-first encoder's ``x[:, 0]`` where ``x[0]``, the first position, was meant),
    so that a class loss reads the layer's positions as its batch N while its
    target has as many rows as the batch that was indexed away."""
    by_batch: dict[str, Axes] = {}
    for axes in sequence_axes.values():
        by_batch.setdefault(axes.batch, axes)
    for loss in trace.calls:
        if not is_class_loss(loss) or len(loss.inputs) < 2 or not loss.inputs[1].shape:
            continue
        read = flow.input_lineage(loss, 0)
        if not read or len(read[0]) != 1:
            continue
        for call in _loss_input_path(flow, loss):
            if call.kind != "op" or call.name not in _INDEXING or call.output is None:
                continue
            lineage = flow.input_lineage(call, 0)
            for dim, index in integer_indices(call, len(lineage)).items():
                found = by_batch.get(lineage[dim][0].origin) if len(lineage[dim]) == 1 else None
                if found is not None and dim == 1 and _reads_state_layers(found, lineage, read[0][0].origin):
                    yield from _state_batch_picked(call, index, loss, found)
                    break
                if found is None or read[0][0].origin != found.time:
                    continue
                axes = found
                picked, steps, target = call.inputs[0].shape[dim], read[0][0].size, loss.inputs[1].shape[0]
                if target != picked or steps == picked:
                    continue  # equal sizes: a wrong layout reads the same (see the limits)
                time = next((d for d, axis in enumerate(lineage) if origins(axis) == {axes.time}), None)
                message = (
                    f"{op_text(call)} {at_line(call)} takes sample {index} of the {picked} in the batch axis "
                    f"(dim {dim}) of {call_label(axes.layer, 'batch_first')}'s output at every {axes.step}; "
                    f"{call_label(loss)} then reads the {steps} {axes.step}s as its batch, while its target "
                    f"has {target} rows, one per sample"
                )
                hint = _hint(call, dim, time) if time is not None else None
                yield finding("ST013", call, message, hint or f"index dim {time} (the {axes.step} axis) instead")
                break


def _reads_state_layers(axes: Axes, lineage: tuple, read: str) -> bool:
    """The indexed tensor is the RNN's final state (layers, batch, hidden), and the
    loss reads its layers axis as the batch N."""
    layers = f"{axes.layer.name}:layers"
    return is_rnn(axes.layer) and len(lineage) == 3 and origins(lineage[0]) == {layers} and read == layers


def _state_batch_picked(call: Call, index: object, loss: Call, axes: Axes) -> Iterator[Finding]:
    """``h_n[:, -1, :]``: one sample of a final state read as if it were batch-first."""
    picked, layers, target = call.inputs[0].shape[1], call.inputs[0].shape[0], loss.inputs[1].shape[0]
    if target != picked or layers == picked:
        return
    message = (
        f"{op_text(call)} {at_line(call)} takes sample {index} of the {picked} in the batch axis (dim 1) of "
        f"{call_label(axes.layer, 'batch_first')}'s final state {format_shape(call.inputs[0])}, "
        f"(num_layers * directions, batch, hidden) whatever batch_first says; {call_label(loss)} then reads "
        f"its {layers} layers as the batch, while its target has {target} rows, one per sample"
    )
    name = receiver_text(call, "h_n")
    yield finding("ST013", call, message, f"use {name}[-1]: the last layer's state of every sample")
