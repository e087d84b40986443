"""ST028 mask-on-queries: an attention mask laid along the queries, where the keys were meant.

A padding mask (B, S) says which keys to ignore; made 4-D for (B, heads, L, S) scores it
is ``mask[:, None, None, :]``, (B, 1, 1, S). Written ``mask[:, None, :, None]``, (B, 1, L, 1),
it broadcasts along the keys instead (self-attention: L == S, nothing raises): added to
the scores, it shifts each query's whole row by one constant, which the softmax over the
keys cancels (softmax is unchanged by a constant added to its inputs), so padded keys are
still attended and the mask does nothing; filled with ``-inf`` it blanks whole query rows
(NaN). ``F.scaled_dot_product_attention`` takes its ``attn_mask`` along the same axes.

Told by shapes against the softmax's dim: a mask of size 1 along the dim the softmax
normalizes (the keys) and longer than 1 along the queries. The finding is placed where
the mask got its axes (the index or ``unsqueeze`` that made it 4-D), the line to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.checks._mask_placer import MASKING_OPS, mask_placer
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import argument
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

# On the way from the masked scores to the softmax: they keep its axes.
_ON_THE_WAY = frozenset({"div", "__truediv__", "mul", "__mul__", "float", "to", "contiguous", "dropout"})
_SOFTMAX = frozenset({"softmax", "log_softmax", "_softmax"})


def _softmax_dim(flow: TraceLineage, call: Call) -> int | None:
    """The dim the softmax after ``call`` (through scaling, dropout) normalizes, from 0."""
    current = call
    for _ in range(8):
        consumers = flow.consumers(current, 0)
        if len(consumers) != 1:
            return None
        consumer = consumers[0][0]
        if consumer.kind == "op" and consumer.name in _SOFTMAX:
            dim = argument(consumer, 0, "dim", None)
            ndim = consumer.inputs[0].ndim
            return dim % ndim if isinstance(dim, int) and -ndim <= dim < ndim else None
        if consumer.kind != "op" or consumer.name not in _ON_THE_WAY:
            return None
        current = consumer
    return None


def _misplaced(scores_shape: tuple[int, ...], mask_shape: tuple[int, ...], keys: int) -> bool:
    """The mask, right-aligned to the scores, is 1 along the keys and spans the queries."""
    ndim = len(scores_shape)
    if keys != ndim - 1 or len(mask_shape) < 2 or ndim < 3:
        return False
    return mask_shape[-1] == 1 < scores_shape[-1] and mask_shape[-2] == scores_shape[-2] > 1


def _hint(placer: Call, ndim: int) -> str:
    """``use attention_mask[:, None, None, :]``: the (B, S) mask's keys in the last dim
    (of the mask before ``.unsqueeze(1).unsqueeze(3)``, when a chain of them made it)."""
    name = receiver_text(placer, "mask")
    base = re.sub(r"(\.unsqueeze\(\s*-?\d+\s*\))+$", "", name) if placer.name == "unsqueeze" else name
    two_d = placer.inputs[0].ndim - (name.count(".unsqueeze(") - base.count(".unsqueeze(")) == 2
    if not two_d and placer.inputs[0].ndim != 2:
        return f"lay the mask's keys along the scores' last dim (B, {'1, ' * (ndim - 2)}S), as the softmax reads them"
    name = base if two_d else name
    name = name if name.isidentifier() else f"({name})"
    return f"use {name}[:, {'None, ' * (ndim - 2)}:]: its keys in the last dim, (B, {'1, ' * (ndim - 2)}S)"


@register(
    "ST028",
    "mask-on-queries",
    "error",
    "an attention mask laid along the queries, constant along the keys the softmax normalizes: it masks no key",
)
def check_mask_on_queries(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    seen: set[int] = set()
    for call in trace.calls:
        if call.kind != "op" or len(call.inputs) < 2 or call.output is None:
            continue
        sdpa = call.name == "scaled_dot_product_attention"
        if call.name not in MASKING_OPS and not sdpa:
            continue
        flow = flow or trace_lineage(trace)
        if sdpa:
            masks = [k for k, meta in enumerate(call.inputs) if meta.path in ("attn_mask", "3")]
            scores_shape = (*call.inputs[0].shape[:-1], call.inputs[1].shape[-2])  # (N, ..., L, S)
            keys: int | None = len(scores_shape) - 1
        else:
            masks = [1] if call.name.startswith("masked_fill") else [0, 1]
            scores_shape = call.output.shape
            keys = _softmax_dim(flow, call)
        for k in masks:
            mask = call.inputs[k]
            if keys is None or mask.shape == call.output.shape or not _misplaced(scores_shape, mask.shape, keys):
                continue
            placer = mask_placer(flow, call, k)
            if placer is None or placer.id in seen:
                continue
            seen.add(placer.id)
            message = (
                f"{op_text(placer)} {at_line(placer)} makes the mask {format_shape(placer.outputs[0])}, which "
                f"{'the +' if 'add' in call.name else call_label(call)} {at_line(call)} lays along the "
                f"{scores_shape[-2]} queries of the "
                f"{tuple(scores_shape)} scores, 1 along the keys the softmax normalizes: "
                + (
                    "a constant per row, which the softmax cancels: no key is masked"
                    if "add" in call.name
                    else "it masks whole query rows, no key"
                )
            )
            yield finding("ST028", placer, message, _hint(placer, len(scores_shape)))
