"""Where a softmax's weights are summed: the dims of the softmax's input that the
product using them contracts.

Attention weights are summed against what they weigh: ``weights @ v`` (and
``torch.matmul``, ``torch.bmm``) over the weights' last dim, or the one before it
when the weights come second (``h.transpose(1, 2) @ w.unsqueeze(-1)``);
``torch.einsum('bhij,bhjd->bhid', w, v)`` over each index of the weights missing
from the output (``j``; ``...`` kept unless the output drops it); attention
pooling by hand, ``(w.unsqueeze(-1) * h).sum(1)`` (or ``.mean(1)``), over the dims
the sum folds, matched to the weights' dims from the right as broadcasting does.
Between the softmax and the product, ops that move the weights along keep their
dims (dropout, a cast, a scalar factor, a mask multiplied in or applied by
``masked_fill`` or ``torch.where``, its fill a number or a tensor made like
the weights, ``torch.zeros_like(w)``, which reads their shape only), and ``unsqueeze``, ``w[:, None]``, ``transpose``
and ``permute`` move them; anything else (a renormalisation, a second use, a
reshape) ends the search.
"""

from __future__ import annotations

import ast
import math
from typing import Any, NamedTuple

from shapetrace.analyze.checks._common import op_text
from shapetrace.analyze.checks._source import _call_name, _parse, binary_operands
from shapetrace.analyze.lineage.einsum import einsum_terms
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import argument, axis_of, permutation, reduced_axes
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import CREATION_OPS, LIKE_CREATION_OPS, PASS_THROUGH_OPS

_MATMUL = frozenset({"matmul", "__matmul__", "bmm"})
_ALONG = PASS_THROUGH_OPS | {"dropout", "masked_fill", "type_as"}
_SCALED = frozenset({"mul", "div", "__truediv__"})  # by a number: the dims stay
_ALONG_MODULES = frozenset({"Dropout", "Identity"})
_PRODUCT = frozenset({"mul"})
_SUM = frozenset({"sum", "nansum", "mean", "nanmean"})
# Ops that read only the weights' shape, dtype and device: the tensor fill of
# ``torch.where(keep, w, torch.zeros_like(w))`` is not a second use of the weights.
_SHAPE_ONLY = CREATION_OPS | LIKE_CREATION_OPS

Dims = list[int | None]  # for each dim of the weights as used, the softmax input's dim it is (None: added)


class WeightsUse(NamedTuple):
    """The op that sums a softmax's weights against something, and over which dims."""

    call: Call  # the matmul, the einsum, or the sum of ``weights * h``
    text: str  # as written: ``weights @ v``, ``torch.einsum('bij,bjd->bid', w, v)``, ``(w * h).sum(dim=1)``
    summed: tuple[int, ...]  # the softmax input's dims it contracts (those of size 1 left out)
    paired: frozenset[int]  # the softmax input's dims the other operand has too (size > 1, aligned)
    size: int  # the size of the dims summed, multiplied
    letter: str  # the einsum index summed (``j``), else ""
    free: frozenset[int]  # the softmax input's dims of size > 1 neither summed nor paired (attention's queries)
    spread: bool  # the other operand has a kept axis the weights lack: each weight scales a vector
    data: bool = True  # the other operand carries an axis of the model's input (not a parameter alone)


class _Contracted(NamedTuple):
    """A product's contraction, in the dims of the weights as it got them."""

    summed: list[int]
    paired: set[int]
    letter: str = ""
    spread: bool = False  # the other operand has a kept axis of size > 1 the weights lack


def weights_use(flow: TraceLineage, softmax: Call) -> WeightsUse | None:
    """How the output of ``softmax`` (a softmax op or module) is summed, found by
    following it through its one consumer at a time; None when it goes elsewhere
    first, to several consumers, or is summed over nothing of its own."""
    current: Call = softmax
    dims: Dims = list(range(softmax.inputs[0].ndim))
    for _ in range(8):
        consumers = [(user, k) for user, k in flow.consumers(current, 0) if user.name not in _SHAPE_ONLY]
        if len(consumers) != 1:
            return None
        consumer, k = consumers[0]
        if consumer.output is None:
            return None
        if consumer.kind == "module":
            if not is_builtin(consumer) or consumer.type not in _ALONG_MODULES:
                return None
        elif consumer.name in _MATMUL and len(consumer.inputs) == 2:
            use = _used(softmax, consumer, dims, _matmul_contracted(consumer, k), _matmul_text(consumer))
            return _with_data(flow, use, consumer, k)
        elif consumer.name == "einsum":
            use = _used(softmax, consumer, dims, _einsum_contracted(consumer, k), _einsum_text(consumer))
            return _with_data(flow, use, consumer, k)
        elif consumer.name in _PRODUCT and len(consumer.inputs) == 2 and _summed(flow, consumer) is not None:
            return _with_data(flow, _summed_product(flow, softmax, consumer, dims, k), consumer, k)
        elif consumer.name in _PRODUCT | {"where"} and len(consumer.inputs) >= 2:
            if not _masked(consumer, k):
                return None
        else:
            moved = _moved(consumer, dims)
            if moved is None:
                return None
            dims = moved
        current = consumer
    return None


def _with_data(flow: TraceLineage, use: WeightsUse | None, product: Call, k: int) -> WeightsUse | None:
    """``use``, told whether the product's other operands carry an axis of the model's input."""
    if use is None:
        return None
    data = any(
        atom.origin.startswith("input#")
        for j in range(len(product.inputs))
        if j != k
        for dim in flow.input_lineage(product, j)
        for atom in dim
    )
    return use._replace(data=data)


def _moved(op: Call, dims: Dims) -> Dims | None:
    """The weights' dims after an op that moves them along; None for any other op."""
    ndim = len(dims)
    if op.name in _ALONG or (op.name in _SCALED and len(op.inputs) == 1):
        return dims if op.output is not None and op.output.shape == op.inputs[0].shape else None
    if op.name == "unsqueeze":
        at = axis_of(argument(op, 0, "dim"), ndim + 1)
        return None if at is None else [*dims[:at], None, *dims[at:]]
    order = permutation(op, ndim)  # transpose, permute, .mT, movedim
    if order is not None:
        return [dims[p] for p in order] if sorted(order) == list(range(ndim)) else None
    if op.name == "__getitem__":
        return _indexed(argument(op, 0, "index"), dims)
    return None


def _indexed(index: Any, dims: Dims) -> Dims | None:
    """``w[:, None]``, ``w[..., None]``: the dims after an index of full slices,
    ``None`` and ``...`` only; None for one that picks or cuts."""
    items = list(index) if isinstance(index, (tuple, list)) else [index]
    full = {"slice": (None, None, None)}
    if any(item is not None and item != full and item != {"ellipsis": True} for item in items):
        return None
    kept = sum(item == full for item in items)
    if sum(item == {"ellipsis": True} for item in items) > 1 or kept > len(dims):
        return None
    out: Dims = []
    position = 0
    for item in items:
        if item is None:
            out.append(None)
        elif item == full:
            out.append(dims[position])
            position += 1
        else:
            rest = len(dims) - kept
            out.extend(dims[position : position + rest])
            position += rest
    return out + dims[position:]


def _used(softmax: Call, call: Call, dims: Dims, contracted: _Contracted | None, text: str) -> WeightsUse | None:
    """The use, its dims of the weights as used turned back into the softmax input's
    (added and size-1 dims left out: summing them sums nothing)."""
    if contracted is None:
        return None
    shape = softmax.inputs[0].shape
    own = sorted({d for k in contracted.summed if (d := dims[k]) is not None and shape[d] > 1})
    if not own:
        return None
    paired = frozenset(d for k in contracted.paired if (d := dims[k]) is not None)
    free = frozenset(d for d, n in enumerate(shape) if n > 1 and d not in own and d not in paired)
    return WeightsUse(
        call, text, tuple(own), paired, math.prod(shape[d] for d in own), contracted.letter, free, contracted.spread
    )


def _broadcast_paired(ndim: int, other: tuple[int, ...], lead: int) -> set[int]:
    """The dims among the first ``lead`` of an ``ndim``-d operand that the other
    operand's leading dims (``other``) match, aligned from the right, of size > 1."""
    paired = set()
    for p in range(lead):
        at = len(other) - (lead - p)
        if at >= 0 and other[at] > 1:
            paired.add(p)
    return paired


def _matmul_contracted(call: Call, k: int) -> _Contracted | None:
    """The dim of a matmul's operand ``k`` it contracts (the first operand's last,
    the second's one before the last, its only for a vector), and its batch dims
    that the other operand has."""
    ndim, other = call.inputs[k].ndim, call.inputs[1 - k].shape
    if ndim == 0:
        return None
    summed = ndim - 1 if k == 0 else max(ndim - 2, 0)
    lead = max(ndim - 2, 0)
    # the other operand's columns (its rows, when the weights come second) are kept: each weight scales a row
    spread = len(other) >= 2 and other[-1 if k == 0 else -2] > 1
    return _Contracted([summed], _broadcast_paired(ndim, other[:-2] if len(other) >= 2 else (), lead), "", spread)


def _einsum_contracted(call: Call, k: int) -> _Contracted | None:
    """The dims of einsum operand ``k`` (an input index) missing from the output:
    the ones it sums over; and those whose index another operand has. None for an
    equation ``einsum_terms`` does not read (a repeated index within one operand: a diagonal)."""
    terms = einsum_terms(call)
    if terms is None:
        return None
    mine, kept = terms.labels[k], set(terms.output)
    others = {
        label
        for j, (theirs, meta) in enumerate(zip(terms.labels, call.inputs))
        if j != k
        for label, size in zip(theirs, meta.shape)
        if size > 1
    }
    summed = [d for d, label in enumerate(mine) if label not in kept]
    index = "".join(label for label in (mine[d] for d in summed) if not label.startswith("."))
    spread = any(label in kept and label not in mine for label in others)
    return _Contracted(summed, {d for d, label in enumerate(mine) if label in others}, index, spread)


def _summed(flow: TraceLineage, product: Call) -> Call | None:
    """The sum (or mean) that is the one consumer of ``product``, else None."""
    consumers = flow.consumers(product, 0)
    if len(consumers) != 1 or product.output is None:
        return None
    total = consumers[0][0]
    return total if total.kind == "op" and total.name in _SUM and total.output is not None else None


def _masked(op: Call, k: int) -> bool:
    """True when ``op`` (a multiply, ``torch.where``) leaves the weights, its operand
    ``k``, as they were but for some entries: ``w * mask`` with a mask of the weights'
    shape or one that broadcasts to it, ``torch.where(mask, w, 0)``; the weights
    then go on to the product with their dims."""
    mine = op.inputs[k].shape
    if op.output is None or op.output.shape != mine:
        return False
    if op.name == "where":
        return op.inputs[k].path != "0"
    other = op.inputs[1 - k].shape
    return len(other) <= len(mine) and all(n in (1, m) for n, m in zip(reversed(other), reversed(mine)))


def _summed_product(flow: TraceLineage, softmax: Call, product: Call, dims: Dims, k: int) -> WeightsUse | None:
    """``(w * h).sum(dim)``, ``.mean(dim)``: the sum of the product's one consumer,
    its dims matched to the weights' from the right (broadcasting)."""
    total = _summed(flow, product)
    if total is None or product.output is None:
        return None
    ndim = product.output.ndim
    folded = reduced_axes(total, ndim)
    if folded is None:
        return None  # all of it: no dim left to tell
    offset = ndim - len(dims)
    other = product.inputs[1 - k].shape
    paired = {p for p in range(len(dims)) if (at := p + offset - (ndim - len(other))) >= 0 and other[at] > 1}
    mine = product.inputs[k].shape
    spread = any(
        other[at] > 1 and (p < offset or mine[p - offset] == 1)
        for p in range(ndim)
        if p not in folded and (at := p - (ndim - len(other))) >= 0
    )
    if not spread and _apart(flow, product, k, folded):
        return None
    contracted = _Contracted([d - offset for d in folded if d >= offset], paired, "", spread)
    return _used(softmax, total, dims, contracted, _sum_text(total))


def _apart(flow: TraceLineage, product: Call, k: int, folded: list[int]) -> bool:
    """True when the dims the sum folds are, in the two operands, axes of two different
    inputs of the model: probabilities times a one-hot target of their shape, summed
    over the batch (a soft confusion row), is a statistic, not weights pooling what
    they scored (values that the weights scale as vectors are not asked this: keys and
    values may come in apart)."""
    ndim = product.output.ndim if product.output is not None else 0
    mine, theirs = flow.input_lineage(product, k), flow.input_lineage(product, 1 - k)
    told = False
    for p in folded:
        a, b = p - (ndim - len(mine)), p - (ndim - len(theirs))
        if a < 0 or b < 0 or not mine[a] or not theirs[b]:
            continue
        here, there = {atom.origin for atom in mine[a]}, {atom.origin for atom in theirs[b]}
        if not all(o.startswith("input#") for o in here | there) or here & there:
            return False
        told = True
    return told


def _matmul_text(call: Call) -> str:
    """``att @ v`` as written, else the op's text (``torch.matmul``, ``torch.bmm``)."""
    # ``w @ v`` runs as Tensor.matmul in recent PyTorch: only the ``@`` of the line is read (no method name)
    operands = binary_operands(call.location, ast.MatMult, "") if call.name in ("matmul", "__matmul__") else None
    return f"{operands[0]} @ {operands[1]}" if operands else op_text(call)


def _written(call: Call, name: str) -> str:
    """The call named ``name`` on the op's line as written (its ``index``-th there,
    where several are); the op's text when the line does not parse."""
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _call_name(node) == name] if tree else []
    return ast.unparse(nodes[call.index % len(nodes)]) if nodes else op_text(call)


def _einsum_text(call: Call) -> str:
    """``torch.einsum('bhij,bhjd->bhid', attn, v)`` as written; with the equation the
    op ran where the line does not write it out (a variable, or einops, which spells
    its own letters: the index a message names is one of these)."""
    text = _written(call, "einsum")
    equation = call.args[0] if call.args and isinstance(call.args[0], str) else ""
    return text if repr(equation) in text else f"torch.einsum({equation!r}, ...)"


def _sum_text(call: Call) -> str:
    """``(w.unsqueeze(-1) * h).sum(dim=1)``: the sum of a product as written."""
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and _call_name(node) in _SUM and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            product = receiver if not (isinstance(receiver, ast.Name) and receiver.id == "torch") else None
            if product is None and node.args:
                product = node.args[0]
            if (isinstance(product, ast.BinOp) and isinstance(product.op, ast.Mult)) or _is_mul_call(product):
                return ast.unparse(node)
    return _written(call, call.name)


def _is_mul_call(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Call) and _call_name(node) == "mul"


__all__ = ["WeightsUse", "weights_use"]
