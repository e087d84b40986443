"""The defaults of PyTorch's Python-level functions, which an op's text leaves out.

``F.relu(x)`` reaches ``__torch_function__`` as ``relu(x, inplace=False)``: such a
function hands every parameter on, so the kwargs recorded for it hold what the
user never wrote. ``python_defaults`` reads them from the function's signature.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from shapetrace.core.torch_private import BOOLEAN_DISPATCHED

_defaults: dict[str, dict[str, Any]] = {}


def python_defaults(call_type: str) -> dict[str, Any]:
    """The parameters a Python-level torch function fills in itself, with their
    defaults: ``F.relu`` -> ``{"inplace": False}``, ``F.softmax`` -> ``{"dim": None,
    "_stacklevel": 3, "dtype": None}``. Such a function hands every parameter to
    ``__torch_function__`` (``handle_torch_function(relu, ..., inplace=inplace)``),
    so an op's recorded kwargs hold what the user never wrote; this tells them
    apart. Read from the function's signature (for a boolean-dispatch wrapper,
    ``F.max_pool2d``, from the function behind it); ``{}`` for a C function, which
    gets only what the user passed. Cached per type.
    """
    known = _defaults.get(call_type)
    if known is None:
        known = _defaults[call_type] = _read_defaults(call_type)
    return known


def _read_defaults(call_type: str) -> dict[str, Any]:
    namespace, _, name = call_type.rpartition(".")
    owner = {"F": torch.nn.functional, "torch": torch, "Tensor": torch.Tensor}.get(namespace)
    func = getattr(owner, name, None) if owner is not None else None
    if func is None:
        return {}
    try:
        func = BOOLEAN_DISPATCHED.get(func, {}).get("if_false", func)
    except TypeError:  # an unhashable callable
        pass
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
