"""What one dataset sample is made of: its leaves (tensors, arrays, numbers) with paths.

A DataLoader's collate function stacks each leaf across the samples of a batch,
so a shape bug in the data is a leaf whose shape differs from the same leaf of
the other samples. Only metadata is read: a tensor's or array's ``shape`` and
``dtype``, a number's type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# Samples nested deeper than this are cut off (a sample is a few levels deep).
_MAX_DEPTH = 8


@dataclasses.dataclass(frozen=True)
class SampleLeaf:
    """One leaf of a sample.

    ``path`` names it as the user's code would: ``"image"`` for a dict key,
    ``"[0]"`` for a tuple position, ``"meta.size"`` for a nested key or a
    dataclass field, ``""`` for a sample that is one tensor. ``shape`` is
    ``()`` for a Python number and ``None`` for a leaf without one (a string).
    ``dtype`` is the tensor's or array's dtype name (``"float32"``) or the
    Python type's name (``"int"``).
    """

    path: str
    shape: tuple[int, ...] | None
    dtype: str
    kind: str  # "tensor", "ndarray", "number", "other"


def sample_leaves(sample: Any) -> tuple[SampleLeaf, ...]:
    """The leaves of ``sample`` in order: dict keys, sequence positions, dataclass
    and namedtuple fields, down to tensors, NumPy arrays and numbers.

    >>> import torch
    >>> [(leaf.path, leaf.shape) for leaf in sample_leaves({"image": torch.zeros(3, 8, 8), "label": 1})]
    [('image', (3, 8, 8)), ('label', ())]
    """
    leaves: list[SampleLeaf] = []
    _walk(sample, "", leaves, 0)
    return tuple(leaves)


def _walk(value: Any, path: str, out: list[SampleLeaf], depth: int) -> None:
    leaf = _leaf(value, path)
    if leaf is not None:
        out.append(leaf)
        return
    if depth >= _MAX_DEPTH:
        out.append(SampleLeaf(path, None, type(value).__name__, "other"))
        return
    children = _children(value)
    if children is None:  # an object collate does not take apart (a PIL image, say)
        out.append(SampleLeaf(path, None, type(value).__name__, "other"))
        return
    for key, child in children:
        _walk(child, _join(path, key), out, depth + 1)


def _leaf(value: Any, path: str) -> SampleLeaf | None:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, type):
        # torch.Tensor and numpy.ndarray alike; numpy scalars have shape () too
        kind = "tensor" if type(value).__module__.startswith("torch") else "ndarray"
        return SampleLeaf(path, tuple(int(d) for d in shape), str(dtype).removeprefix("torch."), kind)
    if isinstance(value, (bool, int, float, complex)):
        return SampleLeaf(path, (), type(value).__name__, "number")
    if isinstance(value, (str, bytes)) or value is None:
        return SampleLeaf(path, None, type(value).__name__, "other")
    return None


def _children(value: Any) -> list[tuple[object, Any]] | None:
    if isinstance(value, Mapping):
        return list(value.items())
    fields = getattr(type(value), "_fields", None)  # a namedtuple: its fields by name
    if isinstance(value, tuple) and fields is not None:
        return [(name, getattr(value, name)) for name in fields]
    if isinstance(value, (list, tuple)):
        return [(index, item) for index, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(field.name, getattr(value, field.name)) for field in dataclasses.fields(value)]
    return None


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
