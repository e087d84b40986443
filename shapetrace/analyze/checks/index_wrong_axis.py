"""ST013 index-wrong-axis: an index that picks one hidden unit where one time step was meant.

``output[:, :, -1]`` on a batch_first RNN output (batch, time, hidden) takes the
last hidden unit at every step, (batch, time), not the last step (batch, hidden).
It runs whenever the sequence length equals what the next layer expects (a padded
length equal to hidden_size), and then the classifier sees one feature of each
step. Dimension lineage tells time from features by where each axis was born, so
equal sizes do not hide it: the index drops the RNN's feature axis, keeps its time
axis, and the time axis ends up last, where the next layer reads features.

Limits: the reverse (an index on the time axis whose result is then read as time)
is not checked; nor is an index through a tensor whose lineage is unknown.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.checks._source import _parse
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.op_args import integer_indices
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace

_PASS_THROUGH = frozenset({"contiguous", "clone", "detach", "to", "float", "relu", "dropout", "tanh"})


def _rnn_axes(flow: TraceLineage, trace: Trace) -> dict[str, tuple[str, str, Call]]:
    """``{feature atom origin: (time atom origin, batch atom origin, the RNN call)}``
    of each RNN output."""
    axes: dict[str, tuple[str, str, Call]] = {}
    for call in trace.calls:
        if not is_rnn(call) or not call.outputs or call.outputs[0].ndim != 3:
            continue
        out = flow.output_lineage(call, 0)
        time_dim = 1 if call.config.get("batch_first") else 0
        time, batch = out[time_dim], out[1 - time_dim]
        if len(out[2]) == 1 and len(time) == 1 and len(batch) == 1:
            axes[out[2][0].origin] = (time[0].origin, batch[0].origin, call)
    return axes


# Ops on the way to the next layer: they move data along, the layer still reads the last dim.
_ON_THE_WAY = _PASS_THROUGH | {"view", "reshape", "squeeze", "unsqueeze", "flatten"}


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
    """``use output[:, -1, :]``: the same index moved from the feature axis to time."""
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    if tree is None:
        return None
    written = op_text(call)
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node) == written and isinstance(node.slice, ast.Tuple):
            items = [ast.unparse(item) for item in node.slice.elts]
            if max(picked, time) < len(items) and all(i != "..." for i in items):
                items[picked], items[time] = items[time], items[picked]
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
    rnn_axes = _rnn_axes(flow, trace)
    if not rnn_axes:
        return
    for call in trace.calls:
        if call.kind != "op" or call.name not in ("__getitem__", "select") or not call.inputs or call.output is None:
            continue
        lineage = flow.input_lineage(call, 0)
        for dim, index in integer_indices(call, len(lineage)).items():
            if len(lineage[dim]) != 1 or lineage[dim][0].origin not in rnn_axes:
                continue
            time_origin, batch_origin, rnn = rnn_axes[lineage[dim][0].origin]
            time = next((d for d, axis in enumerate(lineage) if origins(axis) == {time_origin}), None)
            fed = _feeds_a_layer(flow, call)
            if time is None or fed is None:
                continue
            layer, k = fed
            read = flow.input_lineage(layer, k)
            if not read or not origins(read[-1]) or not origins(read[-1]) <= {time_origin, batch_origin}:
                continue  # the layer reads features: the index was meant
            shape = call.inputs[0].shape
            message = (
                f"{op_text(call)} {at_line(call)} takes unit {index} of the {shape[dim]} hidden features "
                f"(dim {dim}) of {call_label(rnn, 'batch_first')}'s output at every time step; "
                f"{call_label(layer)} then reads the "
                f"{'time steps' if time_origin in origins(read[-1]) else 'batch'} as its features"
            )
            yield finding(
                "ST013",
                call,
                message,
                _hint(call, dim, time) or f"index dim {time} (the time axis) instead of dim {dim}",
            )
