"""ST013 index-wrong-axis: an index that picks one feature where one time step was meant.

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
squeeze then drops.

Limits: the reverse (an index on the time axis whose result is then read as time)
is not checked; nor is an index through a tensor whose lineage is unknown; a
recurrent layer's batch axis picked where time was meant (a seq-first output read
as batch-first) cannot be told from a wrong ``batch_first`` (ST001) when the batch
and the sequence have the same length.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import NamedTuple

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._attention import flag_text
from shapetrace.analyze.checks._common import argument_text, at_line, call_label, op_text, receiver_text
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.checks._source import _parse, find_call
from shapetrace.analyze.checks.batch_first import layout_clues, undecided_reading
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import integer_indices, plain_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_PASS_THROUGH = frozenset({"contiguous", "clone", "detach", "to", "float", "relu", "dropout", "tanh"})


class _Axes(NamedTuple):
    """The axes of a sequence layer's output, by atom origin, and how to name them."""

    time: str
    batch: str
    layer: Call
    features: str  # "hidden features", "channels"
    step: str  # "time step", "position"


def _sequence_axes(flow: TraceLineage, trace: Trace) -> dict[str, _Axes]:
    """``{feature atom origin: its axes}`` of each RNN output (batch, time, hidden)
    or (time, batch, hidden) and each Conv1d output (batch, channels, length)."""
    axes: dict[str, _Axes] = {}
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
        else:
            continue
        if len(feature) == 1 and len(time) == 1 and len(batch) == 1:
            axes[feature[0].origin] = _Axes(time[0].origin, batch[0].origin, call, *words)
    return axes


def _picks(call: Call, ndim: int) -> dict[int, object]:
    """``{input dim: index}`` for each dim an op keeps one element of: an integer
    index (``out[..., -1]``, ``select``), or a length-1 ``narrow``/slice."""
    picked: dict[int, object] = dict(integer_indices(call, ndim))
    if call.name == "narrow" and call.output is not None:
        args = plain_args(call)
        dim = args[0] if args else call.kwargs.get("dim")
        if isinstance(dim, int) and -ndim <= dim < ndim and call.output.shape[dim % ndim] == 1:
            picked[dim % ndim] = args[1] if len(args) > 1 else "start"
    elif call.name == "__getitem__" and call.output is not None and call.output.ndim == ndim:
        for d, (before, after) in enumerate(zip(call.inputs[0].shape, call.output.shape)):
            if after == 1 and before > 1:  # out[:, :, -1:]: a slice, the dim kept
                picked[d] = "slice"
    return picked


# Ops on the way to the next layer: they move data along, the layer still reads the last dim.
_ON_THE_WAY = _PASS_THROUGH | {"view", "reshape", "squeeze", "unsqueeze", "flatten", "relu", "gelu", "sigmoid"}


def _feeds_a_layer(flow: TraceLineage, call: Call) -> tuple[Call, int] | None:
    """The module call that next receives the op's result, and at which input."""
    frontier, seen = [call], set()
    while frontier:
        current = frontier.pop()
        for consumer, k in flow.consumers(current, 0):
            if consumer.id in seen:
                continue
            seen.add(consumer.id)
            if consumer.kind == "module":
                return consumer, k
            if consumer.name in _ON_THE_WAY:
                frontier.append(consumer)
    return None


def _hint(call: Call, picked: int, time: int) -> str | None:
    """``use output[:, -1, :]``: the same index moved from the feature axis to time
    (``x[..., -1]`` written out dim by dim; ``select``/``narrow`` given the time dim)."""
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
    flow = analyze(trace.calls)
    sequence_axes = _sequence_axes(flow, trace)
    for call in trace.calls if sequence_axes else ():
        if call.kind != "op" or call.name not in _INDEXING or not call.inputs or call.output is None:
            continue
        lineage = flow.input_lineage(call, 0)
        for dim, index in _picks(call, len(lineage)).items():
            if len(lineage[dim]) != 1 or lineage[dim][0].origin not in sequence_axes:
                continue
            axes = sequence_axes[lineage[dim][0].origin]
            time = next((d for d, axis in enumerate(lineage) if origins(axis) == {axes.time}), None)
            fed = _feeds_a_layer(flow, call)
            if time is None or fed is None:
                continue
            layer, k = fed
            read = flow.input_lineage(layer, k)
            if not read or not origins(read[-1]) or not origins(read[-1]) <= {axes.time, axes.batch}:
                continue  # the layer reads features: the index was meant
            shape = call.inputs[0].shape
            which = f"unit {index}" if isinstance(index, int) else "one"
            message = (
                f"{op_text(call)} {at_line(call)} takes {which} of the {shape[dim]} {axes.features} "
                f"(dim {dim}) of {call_label(axes.layer, 'batch_first')}'s output at every {axes.step}; "
                f"{call_label(layer)} then reads the "
                f"{axes.step + 's' if axes.time in origins(read[-1]) else 'batch'} as its features"
            )
            yield finding(
                "ST013",
                call,
                message,
                _hint(call, dim, time) or f"index dim {time} (the {axes.step} axis) instead of dim {dim}",
            )
    yield from _batch_axis_indices(trace)


def _batch_axis_indices(trace: Trace) -> Iterator[Finding]:
    """An index taking the last (or, after attention, the first) element of a layer's
    batch axis, where batch and time have one size: the last sample at every step,
    where the last step was meant, or else a wrong ``batch_first`` (ST001 tells
    which when anything else in the trace does; here nothing does)."""
    for lay, clues, collide in layout_clues(trace):
        if not undecided_reading(clues, collide):
            continue
        for clue in clues:
            op = clue.op
            if not clue.swapped or op is None or op.name not in _INDEXING:
                continue
            lineage = analyze(trace.calls).input_lineage(op, 0)
            batch, time = lay.where(lineage)
            if batch is None or time is None or batch not in integer_indices(op, len(lineage)):
                continue
            shape = format_shape(op.inputs[0])
            flag = flag_text(lay.call, not lay.call.config.get("batch_first"), lay.call.name)
            message = (
                f"{op_text(op)} {at_line(op)} takes one element of dim {batch} of "
                f"{call_label(lay.call, 'batch_first')}'s output {shape}, which it takes as the batch: "
                f"the same sample at every step, not one step of every sample. Batch and time are both "
                f"{lay.batch_size}, so it runs; if the data is batch-first, the layer's flag is wrong "
                f"instead (ST001)"
            )
            hint = _hint(op, batch, time)
            source = argument_text(lay.call)
            axis = "time" if lay.verb == "steps through" else "sequence"
            if hint:
                hint += f": if {source} is ({axis}, batch, ...) as {lay.call.name} takes it; if it is batch-first, "
                hint += f"{flag} instead"
            else:
                hint = f"index dim {time} (the {axis} axis) instead of dim {batch}; or, if {source} is batch-first, "
                hint += flag
            yield finding("ST013", op, message, hint)


_INDEXING = frozenset({"__getitem__", "select", "narrow"})
