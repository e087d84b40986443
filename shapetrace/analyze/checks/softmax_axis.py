"""ST021 softmax-not-summed-axis: attention weights normalized over one dim and summed over another.

Attention weights are a softmax over the keys, and ``weights @ v`` sums them
against the values over their last dim, the keys. ``torch.softmax(scores, dim=1)``
on ``(batch, heads, queries, keys)`` scores normalises over the heads instead (code
written for 3-d scores, where dim 1 was the queries... or the keys of ``(batch,
keys, queries)``), ``dim=-2`` over the queries: it runs whenever the sizes allow the
product, and each query's weights no longer sum to 1 over the keys it weighs.

The rule needs no lineage, only the two calls: the dim a softmax normalised, and
the dim the matmul (``@``, ``torch.matmul``, ``torch.bmm``) that takes the weights
as its first operand contracts, which is their last. Between the two, ops that move
the weights along (dropout, a dtype cast) keep the dims; an ``unsqueeze`` shifts
them (attention pooling's ``torch.bmm(weights.unsqueeze(1), h)``).

Limits: weights used by ``einsum``, or multiplied and summed by hand
(``(w.unsqueeze(-1) * h).sum(1)``), are not followed (ST019 covers a softmax over
the batch there).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, op_text
from shapetrace.analyze.checks._dim_call import softmax_dim, softmax_fix
from shapetrace.analyze.checks._source import binary_operands
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import PASS_THROUGH_OPS
from shapetrace.core.trace import Trace

_MATMUL = frozenset({"matmul", "__matmul__", "bmm"})
_ALONG = PASS_THROUGH_OPS | {"dropout", "masked_fill", "type_as"}
_ALONG_MODULES = frozenset({"Dropout", "Identity"})


def _summed_by(flow: TraceLineage, softmax: Call, dim: int) -> tuple[Call, int] | None:
    """The matmul that takes the softmax's output as its first operand, and which of
    the softmax's dims it contracts (its last, moved back through an ``unsqueeze``);
    None when the weights go elsewhere first."""
    current, ndim, normalised = softmax, softmax.inputs[0].ndim, dim
    for _ in range(8):
        consumers = flow.consumers(current, 0)
        if len(consumers) != 1:
            return None
        consumer, k = consumers[0]
        if consumer.output is None:
            return None
        if consumer.kind == "module":
            if not is_builtin(consumer) or consumer.type not in _ALONG_MODULES:
                return None
        elif consumer.name in _MATMUL:
            return (consumer, normalised) if k == 0 and ndim >= 2 else None
        elif consumer.name == "unsqueeze":
            at = axis_of(argument(consumer, 0, "dim"), ndim + 1)
            if at is None:
                return None
            normalised += normalised >= at
            ndim += 1
        elif consumer.name not in _ALONG:
            return None
        current = consumer
    return None


def _product_text(matmul: Call) -> str:
    """``att @ v`` as written, else the op's text (``torch.matmul``, ``torch.bmm``)."""
    operands = binary_operands(matmul.location, ast.MatMult, "matmul") if matmul.name == "__matmul__" else None
    return f"{operands[0]} @ {operands[1]}" if operands else op_text(matmul)


@register(
    "ST021",
    "softmax-not-summed-axis",
    "error",
    "attention weights normalized over one dim (softmax dim=1 over the heads, dim=-2 over the queries) and summed "
    "over another by weights @ v",
)
def check_softmax_axis(trace: Trace) -> Iterator[Finding]:
    flow = analyze(trace.calls)
    for call in trace.calls:
        got = softmax_dim(call)
        if got is None:
            continue
        dim, implicit = got
        found = _summed_by(flow, call, dim)
        if found is None:
            continue
        matmul, normalised = found
        ndim = matmul.inputs[0].ndim
        if normalised == ndim - 1 or call.inputs[0].shape[dim] == 1:
            continue
        label, hint = softmax_fix(call, -1, None if implicit else dim)
        shape = call.inputs[0].shape
        message = (
            f"{label} {at_line(call)} normalizes dim {dim} "
            f"({shape[dim]}) of {format_shape(call.inputs[0])}, but {_product_text(matmul)} {at_line(matmul)} "
            f"sums the weights over their last dim ({matmul.inputs[0].shape[-1]}): the weights it uses do "
            f"not sum to 1 over what they weigh"
        )
        yield finding("ST021", call, message, hint)
