"""ST013's gathers: one given an index built for the other dim, and the help for one
along the features.

The last valid step of padded sequences is ``out.gather(1, idx)`` with ``idx`` of
shape (batch, 1, hidden), each sample's ``lengths - 1`` expanded over the features.
Given that index with ``out.gather(2, idx)``, gather walks the index's own shape: at
(b, 0, j) it takes ``out[b, 0, idx[b, 0, j]]``, the first step only, and there the
one hidden unit ``lengths[b] - 1`` copied into every feature (PyTorch's ``gather``:
``out[i][j][k] = input[i][j][index[i][j][k]]`` for dim 2; an index smaller than the
input in the other dims reads their first entries). The output has the shape the
right gather gives, (batch, 1, hidden), so nothing downstream can notice.

Told by the index's shape against the sequence layer's axes (``_sequence_axes.py``):
gathered along the feature axis, with an index of length 1 in the time axis (longer
than 1 in the input) and full length in the features.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line, call_label, dim_call, op_text
from shapetrace.analyze.checks._sequence_axes import Axes
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


def gathered_for_another_dim(flow: TraceLineage, trace: Trace, axes_of: dict[str, Axes]) -> Iterator[Finding]:
    """ST013 for each ``gather`` along a sequence layer's feature axis whose index was
    shaped for its time axis."""
    for call in trace.calls:
        if call.kind != "op" or call.name != "gather" or len(call.inputs) < 2 or call.output is None:
            continue
        source, index = call.inputs[0].shape, call.inputs[1].shape
        ndim = len(source)
        dim = argument(call, 0, "dim", None)
        if not isinstance(dim, int) or not -ndim <= dim < ndim or len(index) != ndim:
            continue
        dim %= ndim
        lineage = flow.input_lineage(call, 0)
        axes = axes_of.get(lineage[dim][0].origin) if len(lineage[dim]) == 1 else None
        if axes is None:
            continue
        time = next((d for d, axis in enumerate(lineage) if origins(axis) == {axes.time}), None)
        if time is None or index[time] != 1 or source[time] == 1 or index[dim] != source[dim]:
            continue
        if any(index[d] != source[d] for d in range(ndim) if d not in (dim, time)):
            continue
        message = (
            f"{op_text(call)} {at_line(call)} gathers along dim {dim}, the {source[dim]} {axes.features} of "
            f"{call_label(axes.layer, 'batch_first')}'s output, with an index of shape {format_shape(call.inputs[1])}, "
            f"built to pick one {axes.step} in dim {time}: it reads {axes.step} 0 of every sample only, and there "
            f"the one unit the index names in every place"
        )
        yield finding("ST013", call, message, _hint(call, time) or f"gather along dim {time}, the {axes.step} axis")


def _hint(call: Call, time: int) -> str | None:
    """``use out.gather(1, idx)``: the same call along the time axis."""
    as_written = dim_call(call, 2)
    return f"use {as_written.along(time)}" if as_written is not None and len(as_written.after) == 1 else None


def gather_hint(call: Call, picked: int, time: int) -> str | None:
    """``out.gather(2, last)``, ``last`` (B, T, 1) holding each sample's step: the same
    steps, one per sample, taken along time and spread over the features,
    ``out.gather(1, last[:, :1].expand(-1, -1, out.size(2)))`` (gather keeps the dim it picks
    along: the squeeze after it moves too)."""
    as_written = dim_call(call, 2)
    if as_written is None or len(as_written.after) != 1:
        return None
    ndim = len(call.inputs[0].shape)
    rows = [":"] * ndim
    rows[time] = ":1"
    while rows[-1] == ":":
        rows.pop()
    spread = ["-1"] * ndim
    spread[picked] = f"{as_written.tensor}.size({picked})"
    index = as_written.after[0]
    expanded = _expanded(index, ndim)
    if expanded is not None:  # the index's own expand, given the time and feature sizes
        written, sizes = expanded
        sizes[time], sizes[picked] = "1", spread[picked]
        index = f"{written}.expand({', '.join(sizes)})"
    else:
        index = f"{index if index.isidentifier() else f'({index})'}[{', '.join(rows)}].expand({', '.join(spread)})"
    return f"use {as_written.along(time, index)}: then squeeze dim {time}, not dim {picked}"


def _expanded(index: str, ndim: int) -> tuple[str, list[str]] | None:
    """``("(lengths - 1).view(-1, 1, 1)", ["-1", "out.size(1)", "1"])`` for an index written
    ``(lengths - 1).view(-1, 1, 1).expand(-1, out.size(1), 1)``: what it expands, and to what."""
    try:
        node = ast.parse(index, mode="eval").body
    except SyntaxError:
        return None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "expand"
        and len(node.args) == ndim
        and not node.keywords
    ):
        return ast.unparse(node.func.value), [ast.unparse(arg) for arg in node.args]
    return None
