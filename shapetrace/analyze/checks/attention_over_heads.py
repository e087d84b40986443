"""ST026 attention-over-heads: attention whose sequence axis is the heads.

``F.scaled_dot_product_attention`` takes its query, key and value as
(N, ..., L, E): it attends over dim -2 (PyTorch's documented layout). Heads split
off the features with ``q.view(B, T, n_head, head_dim)`` are (B, T, heads, head_dim)
until ``.transpose(1, 2)`` makes them (B, heads, T, head_dim); passed without it, the
attention runs over each token's heads, with the tokens taken as heads, and no token
sees another. The output has the input's shape, so the view that merges the heads
after it fits, and nothing raises. Hand-written scores ``q @ k.transpose(-2, -1)``
of such q and k are the same mistake.

Lineage tells it whatever the sizes: the query's dims -2 and -1 are two pieces of
one axis a layer made (its features, split into heads and head_dim), while the
tokens sit in another dim.

The key's dims -2 and -1 must be such pieces too: queries whose rows are a group's heads
over keys whose dim -2 is the tokens (grouped-query decoding) attend right.

Limits: heads made by other means than a split of one axis (``torch.stack`` of
separate projections) have no such lineage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_PRODUCTS = frozenset({"matmul", "__matmul__", "bmm"})


class _Split(NamedTuple):
    """A query whose last two dims are two pieces of one layer axis (``origin``: its
    heads and head_dim), and the dim of the query that holds the tokens."""

    origin: str
    tokens: int


def _split_feature(flow: TraceLineage, call: Call, k: int) -> _Split | None:
    """Input ``k``'s last two dims as the heads and head_dim of one layer axis, when
    another dim holds something else of size > 1 (the tokens: the last such dim)."""
    dims = flow.input_lineage(call, k)
    if len(dims) < 3 or len(dims[-2]) != 1 or len(dims[-1]) != 1:
        return None
    row, column = dims[-2][0], dims[-1][0]
    if row.size < 2 or row.origin != column.origin or row.stride <= column.stride or row.origin.startswith("input#"):
        return None
    held = [d for d, dim in enumerate(dims[:-2]) if row.origin not in origins(dim) and any(a.size > 1 for a in dim)]
    return _Split(row.origin, held[-1]) if held else None


def _attends(flow: TraceLineage, call: Call) -> _Split | None:
    """The split axis an attention call attends over, for SDPA's query and a product of
    a query with a key transposed (both split the same way)."""
    if call.kind != "op" or not call.inputs:
        return None
    split = _split_feature(flow, call, 0)
    if split is None:
        return None
    if call.name == "scaled_dot_product_attention":
        # SDPA attends each query row over the key's dim -2: where that holds tokens, the
        # query's rows are independent queries, whatever they are (grouped-query decoding
        # packs a group's heads there, as transformers' SDPA path does on a padded batch)
        return split if len(call.inputs) > 1 and _split_feature(flow, call, 1) is not None else None
    if call.name in _PRODUCTS and len(call.inputs) == 2 and call.output is not None:
        key = flow.input_lineage(call, 1)
        if len(key) != call.inputs[0].ndim or len(key[-1]) != 1 or len(key[-2]) != 1:
            return None
        # k.transpose(-2, -1): its rows are the head_dim, its columns the heads
        if {key[-1][0].origin, key[-2][0].origin} == {split.origin} and key[-1][0].stride > key[-2][0].stride:
            return split
    return None


def _hint(call: Call, tokens: int, ndim: int) -> str:
    """The three inputs transposed to (B, heads, T, head_dim), and the output back."""
    heads = ndim - 2
    swap = f".transpose({tokens}, {heads})"
    found = find_call(call.location, {call.name}, None, call.index)
    if call.name == "scaled_dot_product_attention" and found is not None and len(found.args) >= 3:
        q, k, v = (text if text.isidentifier() else f"({text})" for text in found.args[:3])
        inputs = f"{q}{swap}, {k}{swap}, {v}{swap}"
        return (
            f"transpose the heads before the tokens: F.scaled_dot_product_attention({inputs}, ...), "
            f"then its output back with {swap} before the heads are merged"
        )
    return (
        f"transpose q, k and v to (batch, heads, tokens, head_dim) first (q{swap}), "
        f"and the attention's output back with {swap} before the heads are merged"
    )


@register(
    "ST026",
    "attention-over-heads",
    "error",
    "attention whose sequence axis is the heads: q, k, v left (B, T, heads, head_dim) where it takes (B, heads, T, d)",
)
def check_attention_over_heads(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    for call in trace.calls:
        if call.kind != "op" or call.name not in _PRODUCTS | {"scaled_dot_product_attention"}:
            continue
        flow = flow or trace_lineage(trace)
        split = _attends(flow, call)
        if split is None:
            continue
        query, tokens = call.inputs[0], split.tokens
        heads, ndim = query.shape[-2], query.ndim
        layer = split.origin.partition(":")[0]
        message = (
            f"{op_text(call)} {at_line(call)} attends over dim {ndim - 2} of its query {format_shape(query)}, "
            f"{heads} pieces split off one axis of {_layer_text(trace, layer)} (the heads), not over the "
            f"{query.shape[tokens]} tokens in dim {tokens}: each token attends only among its own heads"
        )
        yield finding("ST026", call, message, _hint(call, tokens, ndim))


def _layer_text(trace: Trace, origin: str) -> str:
    """``c_attn (Linear)``: the module an axis origin names, else the origin itself."""
    return f"{call_label(trace[origin])}'s output" if origin in trace else origin
