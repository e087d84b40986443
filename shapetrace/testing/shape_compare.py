"""Why two shapes (or two TensorMetas) are not equal: lines for pytest's assertrepr hook.

Torch-free on purpose (the pytest plugin loads it): ``torch.Size`` and
``TensorMeta`` are recognised through ``sys.modules``, since neither can exist
before its module is imported.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any


def explain_comparison(left: Any, right: Any, *, tuples_are_shapes: bool = False) -> list[str] | None:
    """Lines explaining ``left == right`` failing, or None to leave it to pytest.

    The first line is the summary pytest prints after ``assert``. Plain tuples
    of ints count as shapes only when ``tuples_are_shapes`` (the test uses
    the ``shapetrace`` fixture): elsewhere they may be anything.

    >>> explain_comparison((5, 30, 64), (5, 30, 32), tuples_are_shapes=True)
    ['(5, 30, 64) == (5, 30, 32)', 'dim 2: 64 != 32']
    """
    meta_type = _loaded("shapetrace.core.tensor_meta", "TensorMeta")
    left_meta, right_meta = (meta_type is not None and isinstance(v, meta_type) for v in (left, right))
    if left_meta and right_meta:
        return _explain_metas(left, right)
    if left_meta or right_meta:
        return _explain_meta_and_shape(left, right, meta=left if left_meta else right)
    size_type = _loaded("torch", "Size")
    sized = size_type is not None and (isinstance(left, size_type) or isinstance(right, size_type))
    if (sized or tuples_are_shapes) and _is_shape(left) and _is_shape(right):
        return [f"{_format(left)} == {_format(right)}", *_shape_details(left, right)]
    return None


def _explain_meta_and_shape(left: Any, right: Any, meta: Any) -> list[str] | None:
    other = right if meta is left else left
    if not _is_shape(other):
        return None
    summary = " == ".join(_summary(v) if v is meta else _format(v) for v in (left, right))
    hint = f"a TensorMeta never equals a shape: compare its .shape {_format(meta.shape)}"
    shapes = (meta.shape, other) if meta is left else (other, meta.shape)
    return [summary, hint, *_shape_details(*shapes)]


def _loaded(module: str, name: str) -> type | None:
    return getattr(sys.modules.get(module), name, None)


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(d, int) and not isinstance(d, bool) for d in value)


def _format(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))  # (5, 30, 64) and (5,), as the article writes them


def _shape_details(left: tuple[int, ...], right: tuple[int, ...]) -> list[str]:
    if len(left) != len(right):
        lines = [f"rank {len(left)} != {len(right)}"]
    else:
        lines = [f"dim {i}: {a} != {b}" for i, (a, b) in enumerate(zip(left, right)) if a != b]
    if left == right:
        return lines
    if sorted(left) == sorted(right):
        lines.append("same sizes in another order: a permute/transpose apart")
    elif math.prod(left) == math.prod(right):
        lines.append(f"same number of elements ({math.prod(left):,}): a view/reshape apart")
    return lines


def _summary(meta: Any) -> str:
    """A short stand-in for a TensorMeta's long dataclass repr."""
    dtype = str(meta.dtype).removeprefix("torch.")
    return f"TensorMeta({meta.path!r}, {_format(meta.shape)}, {dtype}, {meta.device!r})"


def _explain_metas(left: Any, right: Any) -> list[str]:
    differing = [f.name for f in dataclasses.fields(left) if getattr(left, f.name) != getattr(right, f.name)]
    lines = [f"{_summary(left)} == {_summary(right)}", f"tensors differ in {', '.join(differing)}"]
    for field in differing:
        a, b = getattr(left, field), getattr(right, field)
        lines.append(f"  {field}: {a!r} != {b!r}")
        if field == "shape":
            lines += [f"    {line}" for line in _shape_details(a, b)]
    return lines
