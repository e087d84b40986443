"""ST029 on a key padding mask built with its samples on dim 1.

PyTorch's attention modules take ``key_padding_mask`` (``src_key_padding_mask``, ...)
as (N, S), the batch first whatever ``batch_first`` says (their documentation). A mask
built with the seq-first recipe, ``torch.arange(T)[:, None] >= lengths[None, :]``, is
(S, N): with N == S it runs, and row n masks the keys of sample n with the padding of
every sample at step n (with N != S PyTorch raises). Lineage tells it where sizes cannot: the mask's dim 1, not its
dim 0, is the DataLoader's batch that the masked input also carries (the lengths and
the tokens came out of one batch; ``_one_batch.loader_batch_axes``).
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._attention import is_attention, padding_masks
from shapetrace.analyze.checks._common import at_line, call_label
from shapetrace.analyze.checks._one_batch import loader_batch_axes
from shapetrace.analyze.checks._source import assigned_expression
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_MAX_STEPS = 24


def transposed_padding_masks(trace: Trace) -> Iterator[Finding]:
    """ST029 for each key padding mask, made once, whose dim 1 is the DataLoader's batch
    of the input it masks and whose dim 0 is not; placed at the op that made it."""
    seen: set[int] = set()
    for call in trace.calls:
        if not is_attention(call) or "batch_first" not in call.config:
            continue
        batch_dim = 0 if call.config.get("batch_first") else 1
        for name, mask, partner, partner_name in padding_masks(call):
            flow = trace_lineage(trace)  # (cached: one lineage per trace)
            batch = loader_batch_axes(trace, flow)
            if not batch:
                return
            k, p = call.inputs.index(mask), call.inputs.index(partner)
            rows, columns = (flow.outside_axes(dim) for dim in flow.input_lineage(call, k))
            if (
                rows & batch
                or not columns & batch
                or not flow.outside_axes(flow.input_lineage(call, p)[batch_dim]) & batch
            ):
                continue
            maker = _maker(flow, call, k)
            if maker is None or maker.id in seen:
                continue
            seen.add(maker.id)
            message = (
                f"the key padding mask {format_shape(mask)} made {at_line(maker)} has the DataLoader's batch on "
                f"dim 1, and {call_label(call)} {at_line(call)} takes {name} as (N, S), the batch on dim 0 "
                f"whatever batch_first is (PyTorch's documentation), as dim {batch_dim} of its {partner_name} "
                f"{format_shape(partner)} has it: the layer reads row n as sample n's keys, and row n holds "
                f"step n of every sample's padding, so each sample's keys are masked by the others' lengths"
            )
            yield finding("ST029", maker, message, _hint(maker))


def _maker(flow: TraceLineage, call: Call, k: int) -> Call | None:
    """The op that made input ``k`` of ``call``, back through what its callers passed and
    the steps that keep its shape (``.bool()``, ``~mask``, ``.to(device)``)."""
    source = flow.source(call, k)
    made: Call | None = None
    for _ in range(_MAX_STEPS):
        if source is not None and source.as_input:
            source = flow.source(source.call, source.index)
            continue
        if source is None or source.call.kind != "op":
            return made
        made = source.call
        if len(made.inputs) != 1 or made.inputs[0].shape != made.outputs[0].shape:
            return made  # the op that gave the mask its shape
        source = flow.source(made, 0)
    return made


def _hint(maker: Call) -> str:
    assigned = assigned_expression(maker.location)
    if assigned is None:
        return "transpose the mask where it is made (.T): a key padding mask is (N, S), the batch first"
    return f"use ({assigned[1]}).T: the batch on dim 0, as a key padding mask takes it"
