"""Which softmax weights a product sums over the wrong dim: ``misweighted``, for
ST021 and ST019, from the use ``_weights_use.py`` finds.

Attention weights are summed over the dim they were normalised over. Two kinds of
weights keep that dim in the product's output on purpose and are told apart here:
routing and soft assignment (capsule couplings, NetVLAD's clusters), whose weights
scale vectors sent to slots the output keeps; and weights mixed by a parameter
(talking heads), which are still weights after the product.
"""

from __future__ import annotations

from shapetrace.analyze.checks._weights_use import WeightsUse, weights_use
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import CREATION_OPS, LIKE_CREATION_OPS

_PRODUCTS = frozenset({"matmul", "__matmul__", "bmm", "einsum", "baddbmm"})
# between attention scores and their softmax: a scale, a mask, a bias, a cast
_BLANK = CREATION_OPS | LIKE_CREATION_OPS
_SCORING = frozenset({"div", "__truediv__", "mul", "masked_fill", "add", "sub", "float", "to", "type_as"})


def misweighted(flow: TraceLineage, softmax: Call, dim: int) -> WeightsUse | None:
    """The product that sums the weights of ``softmax`` (normalised over ``dim`` of
    its input) over one other dim: each output then weighs by values that do not
    sum to 1 over what they weigh. None when it sums the normalised dim, or several,
    or the weights are log-probabilities (``log_softmax``: summed over time on purpose
    for a sequence's log-likelihood).

    A softmax over a dim of size 1 is 1 everywhere: a product summing those weights
    over a longer dim (Bahdanau's ``(batch, time, 1)`` scores normalised over their
    last dim) is returned; one summing that very dim (a first generated token's one
    key) sums nothing and is not.

    The normalised dim may be kept on purpose, as an assignment of what is summed to
    slots the output keeps (``_routing``); where the other operand lacks it too
    (``(b, i, j) @ (b, j, d)`` normalised over ``i``), only attention scores, made by
    a product of two tensors (``q @ k.transpose(-2, -1)``), count."""
    if softmax.name == "log_softmax" or (softmax.kind == "module" and softmax.type == "LogSoftmax"):
        return None
    use = weights_use(flow, softmax)
    if use is None or len(use.summed) != 1 or dim in use.summed:
        return None
    if not use.data and not use.paired - set(use.summed):
        # a learned map of the weights, sharing none of the axes they keep (talking heads'
        # einsum('bhij,hk->bkij', attn, w) mixes the heads): weights still, not a pooling
        return None
    if softmax.inputs[0].shape[dim] == 1:
        return use
    if dim in use.paired:
        return None if _routing(flow, softmax, dim, use) else use
    return use if _scores_of_product(flow, softmax) else None


def _routing(flow: TraceLineage, softmax: Call, dim: int, use: WeightsUse) -> bool:
    """True when the weights assign what the product sums to slots it keeps: each
    weight scales a vector of the other operand (``spread``), whose slots axis is
    the one normalised (``paired``), and the weights have no axis of their own
    beside the summed and the paired (attention's queries). Capsule routing,
    ``(softmax(b, dim=2).unsqueeze(-1) * u_hat).sum(1)`` with ``u_hat`` (batch, in,
    out, d), sends each input capsule's vote to the output capsules; NetVLAD's
    ``(residual * softmax(a, dim=1).unsqueeze(2)).sum(-1)`` each position's residual
    to the clusters. Not when the logits are attention scores (a product of two
    tensors: normalised over the heads, a query's weights over the heads), nor when
    the normalised axis is the data's own (an axis of the model's input, the batch):
    slots are the model's (clusters, capsules, experts)."""
    if not use.spread or use.free or _scores_of_product(flow, softmax):
        return False
    return not any(atom.origin.startswith("input#") for atom in flow.input_lineage(softmax, 0)[dim])


def _scores_of_product(flow: TraceLineage, softmax: Call) -> bool:
    """True when the softmax's input is a product of two tensors (``q @ k.mT``,
    ``torch.einsum('bid,bjd->bij', q, k)``), scaled, masked (``masked_fill``,
    ``torch.where(mask, scores, -inf)``, also with a tensor fill made by
    ``torch.full_like``) or biased after."""
    call, index = softmax, 0
    for _ in range(16):
        source = flow.source(call, index)
        if source is None or source.as_input:
            return False
        made = source.call
        if made.kind != "op":
            return False
        if made.name in _PRODUCTS and len(made.inputs) >= 2:
            return True
        if made.name == "where" and made.output is not None:
            # torch.where(mask, scores, -inf) or (mask, -inf, scores): the scores are the
            # tensor operand of the output's shape that is not the condition
            at = [k for k, meta in enumerate(made.inputs) if meta.path != "0" and meta.shape == made.output.shape]
            # a tensor fill made like the scores (torch.full_like(scores, -inf)) is not them
            at = [k for k in at if not _made_blank(flow, made, k)] or at
        elif made.name in _SCORING:
            at = [k for k, meta in enumerate(made.inputs) if meta.path in ("0", "")]
        else:
            return False
        if len(at) != 1:
            return False
        call, index = made, at[0]
    return False


def _made_blank(flow: TraceLineage, call: Call, index: int) -> bool:
    """True when input ``index`` of ``call`` was made by a creation op (``full_like``,
    ``zeros``), which holds no scores."""
    source = flow.source(call, index)
    return source is not None and not source.as_input and source.call.name in _BLANK


__all__ = ["misweighted"]
