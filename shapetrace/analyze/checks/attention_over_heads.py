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

Limits: heads made by other means than a split of one axis (``torch.stack`` of
separate projections) have no such lineage.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.atoms import DimAtoms, origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_PRODUCTS = frozenset({"matmul", "__matmul__", "bmm"})


def _split_feature(flow: TraceLineage, call: Call, k: int) -> str | None:
    """The layer axis whose two pieces are input ``k``'s last two dims (heads, head_dim),
    when another dim holds something else of size > 1 (the tokens); else None."""
    dims = flow.input_lineage(call, k)
    if len(dims) < 3:
        return None
    rows, columns = dims[-2], dims[-1]
    if len(rows) != 1 or len(columns) != 1 or rows[0].size < 2:
        return None
    row, column = rows[0], columns[0]
    if row.origin != column.origin or row.stride <= column.stride or row.origin.startswith("input#"):
        return None
    others: list[DimAtoms] = [dim for dim in dims[:-2] if dim and row.origin not in origins(dim)]
    return row.origin if any(atom.size > 1 for dim in others for atom in dim) else None


def _tokens_dim(flow: TraceLineage, call: Call, origin: str) -> int | None:
    """The dim of the query that holds what is not the split axis (the tokens), counted from 0."""
    dims = flow.input_lineage(call, 0)
    held = [d for d, dim in enumerate(dims[:-2]) if origin not in origins(dim) and any(a.size > 1 for a in dim)]
    return held[-1] if held else None


def _attends(flow: TraceLineage, call: Call) -> str | None:
    """The split axis an attention call attends over, for SDPA's query and a product of
    a query with a key transposed (both split the same way)."""
    if call.kind != "op" or not call.inputs:
        return None
    if call.name == "scaled_dot_product_attention":
        return _split_feature(flow, call, 0)
    if call.name in _PRODUCTS and len(call.inputs) == 2 and call.output is not None:
        query, key = flow.input_lineage(call, 0), flow.input_lineage(call, 1)
        split = _split_feature(flow, call, 0)
        if split is None or len(key) < 3 or len(key[-1]) != 1 or len(key[-2]) != 1:
            return None
        # k.transpose(-2, -1): its rows are the head_dim, its columns the heads
        if {key[-1][0].origin, key[-2][0].origin} == {split} and key[-1][0].stride > key[-2][0].stride:
            return split if len(query) == len(key) else None
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
        flow = flow or analyze(trace.calls)
        split = _attends(flow, call)
        if split is None:
            continue
        query = call.inputs[0]
        tokens = _tokens_dim(flow, call, split)
        if tokens is None:
            continue
        heads, ndim = query.shape[-2], query.ndim
        layer = split.partition(":")[0] if ":" in split else split
        message = (
            f"{op_text(call)} {at_line(call)} attends over dim {ndim - 2} of its query {format_shape(query)}, "
            f"{heads} pieces split off one axis of {_layer_text(trace, layer)} (the heads), not over the "
            f"{query.shape[tokens]} tokens in dim {tokens}: each token attends only among its own heads"
        )
        yield finding("ST026", call, message, _hint(call, tokens, ndim))


def _layer_text(trace: Trace, origin: str) -> str:
    """``c_attn (Linear)``: the module an axis origin names, else the origin itself."""
    module = next((call for call in trace.calls if call.kind == "module" and call.name == origin), None)
    return f"{call_label(module)}'s output" if module is not None else origin
