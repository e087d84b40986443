"""Naming tensor operations, and telling real ones from bookkeeping."""

from __future__ import annotations

from typing import Any

import torch

# Calls that read metadata or data rather than compute a tensor: leaving them
# out makes the trace read like the code (``x.size(0)`` is not a step).
_BOOKKEEPING = frozenset({
    "dim", "ndimension", "size", "numel", "nelement", "stride", "storage_offset",
    "is_contiguous", "element_size", "is_floating_point", "is_complex", "is_signed",
    "get_device", "data_ptr", "untyped_storage", "storage", "item", "tolist", "numpy",
    "__len__", "__repr__", "__str__", "__format__", "__hash__", "__bool__", "__index__",
    "__int__", "__float__", "__complex__", "__iter__", "__reversed__", "__contains__",
    "__reduce_ex__", "__deepcopy__", "__array__", "__dir__", "__sizeof__", "is_nonzero",
    "has_names", "is_shared", "is_pinned", "__setstate__", "_is_view", "dim_order",
})
# Properties that produce a new tensor; every other attribute read is bookkeeping.
_TENSOR_PROPERTIES = frozenset({"T", "mT", "H", "mH", "real", "imag"})
# Ops kept even though they return no tensor.
KEEP_WITHOUT_OUTPUT = frozenset({"__setitem__"})

_NAMESPACES = {
    "torch": "torch", "torch.functional": "torch", "torch._C._VariableFunctions": "torch",
    "torch.nn.functional": "F", "torch._C._nn": "F",
    "torch._C._linalg": "torch.linalg", "torch._C._special": "torch.special",
    "torch._C._fft": "torch.fft", "torch._C._nested": "torch.nested",
}

_cache: dict[Any, tuple[str, str] | None] = {}


def _describe(func: Any) -> tuple[str, str] | None:
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # attribute read through a getset descriptor
        prop = getattr(getattr(func, "__self__", None), "__name__", "")
        return (prop, f"Tensor.{prop}") if prop in _TENSOR_PROPERTIES else None
    if name in _BOOKKEEPING:
        return None
    qualname = getattr(func, "__qualname__", "") or ""
    if getattr(func, "__objclass__", None) is torch._C.TensorBase or qualname.startswith(
        ("Tensor.", "TensorBase.")
    ):
        return name, f"Tensor.{name}"
    module = getattr(func, "__module__", None) or ""
    namespace = _NAMESPACES.get(module, module.replace("torch._C.", "torch."))
    return name, f"{namespace}.{name}" if namespace else name


def describe_op(func: Any) -> tuple[str, str] | None:
    """``(name, type)`` of a torch function, e.g. ``("view", "Tensor.view")``.

    None for bookkeeping calls that are not recorded. Cached per function.
    """
    try:
        return _cache[func]
    except KeyError:
        described = _cache[func] = _describe(func)
        return described
    except TypeError:  # an unhashable callable
        return _describe(func)
