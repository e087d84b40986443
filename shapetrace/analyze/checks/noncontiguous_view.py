"""ST004 non-contiguous-view: ``.view`` on a tensor whose memory is not in order.

A ``batch_first=True`` LSTM output, a transpose or a permute leave a tensor
non-contiguous; ``.view`` then raises when it has to merge axes that are not
adjacent in memory. The finding follows the tensor back to the call that
made it non-contiguous.

A view that PyTorch accepts on a non-contiguous tensor (one that only splits
or keeps axes) is correct for any layout, so it is not reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import reshape_fits, size_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace


def _became_non_contiguous(flow: TraceLineage, call: Call) -> str:
    """``at lstm (LSTM) output (line 19)``: the earliest non-contiguous producer
    of the chain of non-contiguous tensors that reached ``call``."""
    origin = None
    for source in flow.producers(call, 0):
        if source.meta.contiguous:
            break
        origin = source
    if origin is None:
        return ""
    made = origin.call
    why = ", which returns a batch_first output as a transposed view" if made.config.get("batch_first") else ""
    return f"; it became non-contiguous at {call_label(made, 'batch_first')} {at_line(made)}{why}"


@register(
    "ST004", "non-contiguous-view", "error", "`.view` on a non-contiguous tensor (e.g. a batch_first LSTM output)"
)
def check_noncontiguous_view(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    for call in trace.calls:
        if call.kind != "op" or call.type != "Tensor.view" or not call.inputs or call.error is None:
            continue
        meta, sizes = call.inputs[0], size_args(call)
        # Sizes that fit the element count: the strides, not the sizes, made it fail.
        if meta.contiguous or not reshape_fits(sizes, math.prod(meta.shape)):
            continue
        tensor = receiver_text(call)
        message = (
            f"{op_text(call)} {at_line(call)} needs {format_shape(meta)} contiguous, but its "
            f"strides are {format_dims(meta.stride)}{_became_non_contiguous(flow, call)}"
        )
        shape = ", ".join(map(str, sizes))
        yield finding("ST004", call, message, f"use {tensor}.contiguous().view({shape}) or {tensor}.reshape({shape})")
