"""Reading an op call's arguments: its sizes, dims, indices and permutation.

A recorded op keeps its arguments as JSON-ready summaries (a tensor is
``{"tensor": ...}``, a slice ``{"slice": ...}``, ``...`` ``{"ellipsis": True}``);
these helpers turn them back into the ints and dims the lineage rules
(``op_rules.py``) and the checks reason with. None (or -1 for a size) where an
argument is not a plain int.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from shapetrace.core.records import Call
from shapetrace.core.torch_facts import REDUCTION_OPS


def plain_args(call: Call) -> list[Any]:
    """Positional arguments after the tensor an op works on."""
    args = list(call.args)
    if args and isinstance(args[0], dict) and "tensor" in args[0]:
        args = args[1:]
    return args


def size_args(call: Call) -> list[int]:
    """The sizes an op was given: ``view(5, 30, -1)``, ``zeros((1, 5, 64))``;
    a size that is not a plain int counts as -1 (inferred)."""
    args = plain_args(call)
    if args and isinstance(args[0], (tuple, list)):
        args = list(args[0])
    return [v if isinstance(v, int) and not isinstance(v, bool) else -1 for v in args]


def reshape_fits(sizes: Sequence[int], numel: int) -> bool:
    """True when a view to ``sizes`` (one of them maybe -1) can hold ``numel`` elements."""
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        return known > 0 and numel % known == 0
    return known == numel


def argument(call: Call, position: int, name: str, default: Any = None) -> Any:
    """An argument by its position after the tensor (``transpose(1, 2)``: 0 is
    ``1``), else by keyword ``name``, else ``default``."""
    args = plain_args(call)
    if position < len(args):
        return args[position]
    return call.kwargs.get(name, default)


def axis_of(value: Any, ndim: int) -> int | None:
    """A dim argument as a dim of an ``ndim``-d tensor (``-1`` -> ``ndim - 1``);
    None when it is not an int in range."""
    if isinstance(value, bool) or not isinstance(value, int) or ndim == 0:
        return None
    return value % ndim if -ndim <= value < ndim else None


def axes_of(value: Any, ndim: int) -> list[int] | None:
    """``axis_of`` for one dim or a tuple of them; None when any is not a dim."""
    values = value if isinstance(value, (tuple, list)) else [value]
    axes = [axis_of(v, ndim) for v in values]
    return [a for a in axes if a is not None] if None not in axes else None


def output_shapes(call: Call) -> list[tuple[int, ...]]:
    """The shape of each tensor the call returned."""
    return [meta.shape for meta in call.outputs]


def raw_argument(call: Call, position: int, name: str, default: Any = None) -> Any:
    """An argument by its position among all arguments, tensors included."""
    return call.args[position] if position < len(call.args) else call.kwargs.get(name, default)


def permutation(call: Call, ndim: int) -> list[int] | None:
    """The input dim each output dim comes from, for a permute-like op on an
    ``ndim``-d tensor (``transpose(0, 1)`` on 3 dims: ``[1, 0, 2]``); None
    when the op is not one or its dims are not plain ints."""
    name = call.name
    if name in ("t", "T", "mT", "mH"):
        # .T reverses all dims; t/mT/mH swap the last two.
        return list(range(ndim))[::-1] if name == "T" else [*range(ndim - 2), ndim - 1, ndim - 2]
    if name == "permute":
        return axes_of(size_args(call) or call.kwargs.get("dims"), ndim)
    if name in ("transpose", "swapaxes", "swapdims"):
        pair = axes_of([argument(call, 0, "dim0"), argument(call, 1, "dim1")], ndim)
        if pair is None:
            return None
        order = list(range(ndim))
        order[pair[0]], order[pair[1]] = order[pair[1]], order[pair[0]]
        return order
    if name in ("movedim", "moveaxis"):
        source = axes_of(argument(call, 0, "source"), ndim)
        target = axes_of(argument(call, 1, "destination"), ndim)
        if source is None or target is None or len(source) != len(target):
            return None
        rest = iter(d for d in range(ndim) if d not in source)
        placed = dict(zip(target, source))
        return [placed[i] if i in placed else next(rest) for i in range(ndim)]
    return None


def index_items(call: Call) -> list[Any] | None:
    """The items of an index (``x[:, -1]`` -> ``[{"slice": ...}, -1]``); None without one."""
    args = plain_args(call)
    if not args:
        return None
    index = args[0]
    return list(index) if isinstance(index, tuple) else [index]


def integer_indices(call: Call, ndim: int) -> dict[int, int]:
    """``{input dim: index}`` for each dim an indexing op picks one element
    of: ``out[:, -1, :]`` gives ``{1: -1}``, ``out.select(0, -1)`` ``{0: -1}``."""
    if call.name == "select":
        axis, index = axis_of(argument(call, 0, "dim"), ndim), argument(call, 1, "index")
        return {axis: index} if axis is not None and isinstance(index, int) else {}
    items = index_items(call) if call.name == "__getitem__" else None
    if items is None:
        return {}
    picked: dict[int, int] = {}
    position = 0
    for item in items:
        if item == {"ellipsis": True}:
            position += ndim - sum(1 for i in items if i is not None and i != {"ellipsis": True})
        elif item is None:
            continue
        else:
            if isinstance(item, int) and not isinstance(item, bool):
                picked[position] = item
            position += 1
    return picked


def reduced_axes(call: Call, ndim: int) -> list[int] | None:
    """The dims a reduction (``mean(dim=1)``) folds; None when not one, or all dims."""
    dims = argument(call, 0, "dim") if call.name in REDUCTION_OPS else None
    return None if dims is None else axes_of(dims, ndim)
