"""A loss made of a similarity: ``(1 - F.cosine_similarity(pred, target, dim=-1)).mean()``.

``F.cosine_similarity`` and ``F.pairwise_distance`` compare two tensors vector by
vector along ``dim``, broadcasting the other dims as elementwise ops do (PyTorch's
docs: "x1 and x2 must be broadcastable to a common shape"). A ``(B, D)`` prediction
against a ``(B, 1, D)`` target broadcasts to ``(B, B, D)``: every prediction meets
every target, and the mean of the ``(B, B)`` similarities trains each embedding
towards the mean of all targets, without an error or a warning.
"""

from __future__ import annotations

import ast
import dataclasses
import math

from shapetrace.analyze.checks._common import at_line, op_text
from shapetrace.analyze.checks._hand_loss import (
    complementary_unit_dims,
    outer_broadcast,
    same_tensor,
    scalar_reduction,
    unit_dim,
)
from shapetrace.analyze.checks._source import _parse
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.loss_facts import SIMILARITY_OPS
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape


def is_similarity(call: Call) -> bool:
    return call.kind == "op" and call.name in SIMILARITY_OPS and len(call.inputs) >= 2 and bool(call.outputs)


def similarity_broadcast(flow: TraceLineage, call: Call) -> tuple[str, str] | None:
    """``(message, help)`` where a similarity of two tensors broadcasts an axis of one
    against an axis of the other and the result is reduced to one number; else None
    (all pairs kept as a matrix, or one tensor against itself: meant)."""
    a, b = call.inputs[0], call.inputs[1]
    shape = _broadcast(a.shape, b.shape)
    if shape is None:
        return None
    pairs = outer_broadcast(a, b, dataclasses.replace(a, shape=shape))
    if not pairs or complementary_unit_dims(a, b) or same_tensor(flow, call):
        return None  # all pairs meant: a.unsqueeze(1) against b.unsqueeze(0), or one tensor against itself
    reduction = scalar_reduction(flow, call)
    if reduction is None:
        return None
    where = "" if reduction.location == call.location else f" {at_line(reduction)}"
    message = (
        f"{op_text(call)} {at_line(call)} compares {format_shape(a)} with {format_shape(b)} vector by vector: "
        f"they broadcast to {format_dims(shape)}, {format_shape(call.outputs[0])} similarities, then "
        f"{reduction.name}(){where} reduces them to one number: each prediction is compared with every "
        f"target, not only its own"
    )
    return message, _help(call, a, b)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    ndim = max(len(a), len(b))
    left, right = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(left, right)):
        return None
    shape = tuple(max(x, y) for x, y in zip(left, right))
    return shape if math.prod(shape) > max(math.prod(a), math.prod(b)) else None


def _help(call: Call, a: TensorMeta, b: TensorMeta) -> str:
    """``use F.cosine_similarity(pred, target.squeeze(1), dim=-1)``: the call as written,
    the operand with the extra size-1 dim squeezed."""
    for position, (longer, shorter) in enumerate(((a, b), (b, a))):
        dim = unit_dim(longer, shorter)
        if dim is None:
            continue
        written = _written_call(call)
        if written is None or len(written.args) <= position:
            return f"give both operands one shape: squeeze({dim}) the {format_shape(longer)} one"
        text, base = ast.get_source_segment(call.location.code, written), written.col_offset  # type: ignore[union-attr]
        operand = written.args[position]
        start, end = operand.col_offset - base, (operand.end_col_offset or 0) - base
        fixed = f"{text[:start]}{text[start:end]}.squeeze({dim}){text[end:]}"  # type: ignore[index]
        return f"use {fixed}: each prediction then meets its own target"
    return "give both operands one shape, each prediction beside its own target"


def _written_call(call: Call) -> ast.Call | None:
    """The call expression of ``call`` on its line (its ``index``-th of that name)."""
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    if tree is None:
        return None
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)) == call.name
    ]
    return found[call.index % len(found)] if found else None
