"""ST014 squeeze-drops-batch: ``squeeze()`` without dims on a batch of one.

After global pooling a backbone gives (batch, C, 1, 1), and ``torch.squeeze(x)``
makes (batch, C), until the last batch of a loader holds one sample: then the
batch axis goes too, (C,). A Linear still accepts it; the error, if any, comes
later (BatchNorm1d: "expected 2D or 3D input"), one module away from the cause.

Evidence: the same squeeze line ran in another pass, where that dim was larger
and, by dimension lineage, held that pass's batch axis. (A size-1 dim holds no
lineage of its own, so a single pass of one sample cannot show it.) The finding
is at the squeeze line, also when nothing fails afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, op_text, pass_root, receiver_text
from shapetrace.analyze.checks.hardcoded_batch import batch_axis
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.op_args import plain_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


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


@register(
    "ST014",
    "squeeze-drops-batch",
    "warning",
    "a squeeze() without dims that removed the batch axis of a batch of one sample",
)
def check_squeeze_batch(trace: Trace) -> Iterator[Finding]:
    squeezes = _bare_squeezes(trace)
    if len(squeezes) < 2:
        return
    flow = analyze(trace.calls)
    for call in squeezes:
        shape = call.inputs[0].shape
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
            yield finding("ST014", call, message, hint)
            break
