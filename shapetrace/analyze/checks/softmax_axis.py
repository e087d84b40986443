"""ST021 softmax-not-summed-axis: attention weights normalized over one dim and summed over another.

Attention weights are a softmax over the keys, and ``weights @ v`` sums them
against the values over their last dim, the keys. ``torch.softmax(scores, dim=1)``
on ``(batch, heads, queries, keys)`` scores normalises over the heads instead (code
written for 3-d scores, where dim 1 was the queries... or the keys of ``(batch,
keys, queries)``), ``dim=-2`` over the queries: it runs whenever the sizes allow the
product, and each query's weights no longer sum to 1 over the keys it weighs.

The rule needs no lineage, only the calls: the dim a softmax normalised, and the
dims the product that uses the weights sums them over (``_weights_use.py``):
``@``, ``torch.matmul`` and ``torch.bmm`` (the weights' last dim, the one before
when they come second), ``torch.einsum`` (the weights' indices missing from the
output: ``j`` of ``'bhij,bhjd->bhid'``), and attention pooling by hand,
``(w.unsqueeze(-1) * h).sum(1)`` or ``.mean(1)``. Between the two, dropout, casts,
a mask (``w * mask``, ``torch.where(mask, w, 0)``), ``unsqueeze``, ``w[:, None]``
and transposes move the weights along. Log-probabilities (``log_softmax``) are not
weights and are left alone.

A softmax over a dim of size 1 gives weights that are all 1: Bahdanau's
``(batch, time, 1)`` scores normalised over their last dim, then summed over time,
pool unweighted. It is found when the product sums a longer dim; a softmax over one
key that the product sums (a first generated token's) is not.

Some weights keep the normalised axis on purpose. Capsule routing's couplings,
``softmax(b, dim=2)`` over the output capsules, weigh each input capsule's vote
``u_hat`` (batch, in, out, d) in ``(c.unsqueeze(-1) * u_hat).sum(1)``; NetVLAD's
assignment over the clusters weighs each position's residual to each centroid,
summed over the positions. Both assign vectors to slots that the output keeps: the
other operand has the normalised axis too, the weights scale its vectors and have
no axis of their own besides (``_misweighted._routing``). Attention over the heads
looks alike but its scores are a product of queries and keys, and the batch is the
data's, not a set of slots: both stay found. A product with a parameter alone that
shares none of the axes the weights keep maps weights to weights (talking heads'
``einsum('bhij,hk->bkij', attn, w)``): not a pooling, not judged.

A softmax that ST019 finds over a batch axis and that a product sums over another
axis is one finding, ST019's, at this check's severity: the batch is the worse
half of it (each sample's weights depend on the others), and its help names the
axis the product sums.

Limits: a product that sums the weights over several dims, none of them the one
normalised, is not judged; nor weights renormalised, reshaped or used twice before
the product. Routing over slots made by a split of features (multi-head attention
pooling normalised over its heads by mistake, ``(w.unsqueeze(-1) * h).sum(1)`` on
``(batch, time, heads)`` weights) passes as routing. A model built with one cluster
or one output capsule is found: its weights are all 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._batch_axes import BatchAxis, batch_axes
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._dim_call import softmax_dim, softmax_fix
from shapetrace.analyze.checks._misweighted import misweighted
from shapetrace.analyze.checks._weights_use import WeightsUse
from shapetrace.analyze.checks.over_batch import over_batch_softmax
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


def _over_what(use: WeightsUse, ndim: int) -> str:
    """``their last dim (6)``, ``dim 1 (12)``, ``j, their last dim (6)``: the weights'
    dim a product sums (with its einsum index), as the softmax's input counts it."""
    summed = use.summed[0]
    where = f"their last dim ({use.size})" if summed == ndim - 1 else f"dim {summed} ({use.size})"
    return f"{use.letter}, {where}" if use.letter else where


@register(
    "ST021",
    "softmax-not-summed-axis",
    "error",
    "attention weights normalized over one dim (softmax dim=1 over the heads, dim=-2 over the queries) and summed "
    "over another by weights @ v, torch.einsum or (w * h).sum(dim)",
)
def check_softmax_axis(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    known: dict[str, BatchAxis] | None = None
    for call in trace.calls:
        got = softmax_dim(call)
        if got is None:
            continue
        dim, implicit = got
        use = misweighted(flow, call, dim)
        if use is None:
            continue
        known = batch_axes(trace, flow) if known is None else known
        if _reported_by_st019(call, flow, known):
            continue
        ndim = call.inputs[0].ndim
        meant = use.summed[0]
        label, hint = softmax_fix(call, -1 if meant == ndim - 1 else meant, None if implicit else dim)
        shape = call.inputs[0].shape
        if shape[dim] == 1:
            message = (
                f"{label} {at_line(call)} normalizes dim {dim} of {format_shape(call.inputs[0])}, of size 1: "
                f"each weight is alone in its softmax, so all are 1, and {use.text} {_where(use.call, call)} "
                f"sums over {_over_what(use, ndim)} unweighted"
            )
        else:
            message = (
                f"{label} {at_line(call)} normalizes dim {dim} ({shape[dim]}) of {format_shape(call.inputs[0])}, "
                f"but {use.text} {_where(use.call, call)} sums the weights over {_over_what(use, ndim)}: the "
                f"weights it uses do not sum to 1 over what they weigh"
            )
        yield finding("ST021", call, message, hint)


def _where(use: Call, softmax: Call) -> str:
    """``at line 12``; ``at _backends.py:291`` for a product in another file (a library's
    helper, einops.einsum)."""
    there, here = use.location, softmax.location
    if there is None or here is None or there.filename == here.filename:
        return at_line(use)
    return f"at {os.path.basename(there.filename)}:{there.lineno}"


def _reported_by_st019(call: Call, flow: TraceLineage, known: dict[str, BatchAxis]) -> bool:
    """True when ST019 reports the softmax: over a batch axis, summed over another."""
    return bool(known) and over_batch_softmax(call, flow, known) is not None
