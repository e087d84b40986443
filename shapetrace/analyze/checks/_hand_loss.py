"""Losses written out by hand: ``((pred - y) ** 2).mean()``, ``torch.abs(y - pred).mean()``,
``-(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()``.

Such a loss is an elementwise op of two tensors (the prediction and the target)
whose result is reduced to one number, as ``F.mse_loss``, ``F.l1_loss`` or
``F.binary_cross_entropy`` would; its operands broadcast as theirs do.
"""

from __future__ import annotations

import ast
import math

from shapetrace.analyze.checks._source import binary_operands
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.loss_facts import LOSS_ARITHMETIC_OPS, LOSS_STEP_OPS, SCALAR_REDUCTION_OPS
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.torch_facts import PASS_THROUGH_OPS, PERMUTE_OPS, RESHAPE_OPS

# The operator that writes each comparison op (``a - b`` runs ``Tensor.sub``).
_OPERATORS: dict[str, type[ast.operator]] = {"sub": ast.Sub, "add": ast.Add, "mul": ast.Mult, "div": ast.Div}
_SAME_OPS = {"__sub__": "sub", "subtract": "sub", "__add__": "add", "__mul__": "mul", "multiply": "mul"}
_SAME_OPS |= {"__truediv__": "div", "true_divide": "div", "divide": "div"}
BINARY_OPS: dict[str, type[ast.operator]] = {
    name: _OPERATORS[_SAME_OPS.get(name, name)] for name in LOSS_ARITHMETIC_OPS
}
SYMBOLS = {"Sub": "-", "Add": "+", "Mult": "*", "Div": "/"}  # how each comparison is written
# How far from the comparison its reduction may be, in elementwise steps.
_MAX_STEPS = 8


def scalar_reduction(flow: TraceLineage, call: Call) -> Call | None:
    """The reduction to one number (``.mean()``, ``torch.sum``, ``.norm()``) that
    ``call``'s output reaches through elementwise steps and sums or means along
    dims (``.sum(1).mean()``); None when it reaches none: an outer difference kept
    as a matrix, or one step that picks among the pairs (``.min(dim=1)``, the
    nearest of the prototypes) or mixes them otherwise (``@``)."""
    shape = call.outputs[0].shape if call.outputs else None
    for _ in range(_MAX_STEPS):
        consumers = flow.consumers(call, 0)
        if len(consumers) != 1:
            return None
        call = consumers[0][0]
        if call.kind != "op" or not call.outputs:
            return None
        if call.name in SCALAR_REDUCTION_OPS:
            if call.outputs[0].shape == ():
                return call
            shape = call.outputs[0].shape  # along some dims: on to the rest
        elif call.name not in LOSS_STEP_OPS or call.outputs[0].shape != shape:
            return None
    return None


def some_scalar_reduction(flow: TraceLineage, call: Call) -> Call | None:
    """``scalar_reduction`` along any of the uses of ``call``'s output, each followed as
    there: a loss that reads its difference twice (the scale-invariant log loss's
    ``(d ** 2).mean() - (d.mean()) ** 2``) reduces it to one number too."""
    found = scalar_reduction(flow, call)
    if found is not None or not call.outputs:
        return found
    for consumer, _ in flow.consumers(call, 0):
        if consumer.kind != "op" or not consumer.outputs:
            continue
        if consumer.name in SCALAR_REDUCTION_OPS and consumer.outputs[0].shape == ():
            return consumer
        if consumer.name in LOSS_STEP_OPS and consumer.outputs[0].shape == call.outputs[0].shape:
            found = scalar_reduction(flow, consumer)
            if found is not None:
                return found
    return None


def symbol_of(call: Call) -> str | None:
    """How the comparison ``call`` is written (``-`` for ``Tensor.sub``); None for a loss call."""
    operator = BINARY_OPS.get(call.name)
    return SYMBOLS[operator.__name__] if operator is not None else None


def outer_broadcast(a: TensorMeta, b: TensorMeta, out: TensorMeta) -> list[tuple[int, int]]:
    """The dims ``(i, j)`` of ``a`` and ``b`` whose equal sizes broadcasting sets on
    two axes of ``out``, each facing a size 1 or nothing in the other operand:
    ``(N, 1)`` against ``(N,)`` makes ``(N, N)``, dim 0 of each (trailing dims
    align, so the missing dim of ``(N,)`` meets the size-1 dim of ``(N, 1)``:
    PyTorch's broadcasting semantics). Empty unless ``out`` holds more elements
    than either operand."""
    if a.shape == b.shape or math.prod(out.shape) <= max(math.prod(a.shape), math.prod(b.shape)):
        return []
    ndim = len(out.shape)
    pad_a, pad_b = ndim - len(a.shape), ndim - len(b.shape)
    left = (1,) * pad_a + a.shape
    right = (1,) * pad_b + b.shape
    alone_a = [(k, x) for k, (x, y) in enumerate(zip(left, right)) if x != 1 and y == 1]
    alone_b = [(k, y) for k, (x, y) in enumerate(zip(left, right)) if y != 1 and x == 1]
    return [(i - pad_a, j - pad_b) for i, x in alone_a for j, y in alone_b if x == y]


def complementary_unit_dims(a: TensorMeta, b: TensorMeta) -> bool:
    """Complementary size-1 dims written out in both operands, ``(m, N, 1)``
    against ``(m, 1, N)``: the shape of a deliberate all-pairs comparison
    (quantile regression, pairwise ranking, a similarity matrix), not of a missing dim."""
    if len(a.shape) != len(b.shape):
        return False
    a_only = any(x == 1 and y != 1 for x, y in zip(a.shape, b.shape))
    b_only = any(y == 1 and x != 1 for x, y in zip(a.shape, b.shape))
    return a_only and b_only


def unit_dim(longer: TensorMeta, shorter: TensorMeta) -> int | None:
    """The size-1 dim of ``longer`` whose removal gives ``shorter``'s shape, else None."""
    shape = longer.shape
    return next((k for k in range(len(shape)) if shape[k] == 1 and shape[:k] + shape[k + 1 :] == shorter.shape), None)


# Ops whose output is its input's elements again: ``s[:, None]`` is still ``s``.
_SAME_ELEMENTS = RESHAPE_OPS | PERMUTE_OPS | PASS_THROUGH_OPS | {"__getitem__", "expand", "expand_as"}


def same_tensor(flow: TraceLineage, call: Call) -> bool:
    """True when both operands of ``call`` show one tensor, each through views
    of it only (``s[:, None] - s``: every score against every other, as a
    pairwise ranking means to); a prediction and its target are two tensors."""
    roots: list[tuple[object, ...] | None] = []
    for index in (0, 1):
        at, k = call, index
        source = flow.source(at, k)
        while source is not None and not source.as_input and source.call.kind == "op":
            if source.call.name not in _SAME_ELEMENTS or len(source.call.inputs) != 1:
                break
            at, k = source.call, 0
            source = flow.source(at, k)
        if source is not None:
            roots.append((source.call.id, source.index, source.as_input))
        else:
            ids = at.input_ids
            roots.append(("tensor", ids[k]) if ids else None)
    return roots[0] is not None and roots[0] == roots[1]


def operand_texts(call: Call) -> tuple[str, str] | None:
    """The two operands of a binary op as written on its line (``pred``, ``y``),
    in the op's order; None when the line does not show them."""
    operator = BINARY_OPS.get(call.name)
    return binary_operands(call.location, operator, call.name) if operator is not None else None
