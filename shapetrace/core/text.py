"""Text for shapes, tensors, ops and places, shared by every renderer."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from shapetrace.core.op_defaults import python_defaults
from shapetrace.core.records import Call, Location
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.core.torch_facts import INPUT_NAMES, LOSS_OPS, OUTPUT_NAMES, TENSOR_PROPERTIES


def format_dims(dims: Sequence[Any]) -> str:
    """``(5, 30, 64)``; a 1-d shape keeps the article's ``(5,)`` tuple comma."""
    inner = ", ".join(str(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def format_shape(meta: TensorMeta, *, symbolic: bool = True) -> str:
    """The shape as the article writes it; symbolic (``(B, T, 64)``) when known;
    a layout other than strided after it (``(3, 5, 16) nested``)."""
    dims = format_dims(meta.symbolic if symbolic and meta.symbolic is not None else meta.shape)
    return dims if meta.layout == "strided" else f"{dims} {meta.layout}"


_LOSS_INPUT_NAMES = {"0": "input", "1": "target", "target": "target"}


def tensor_name(call: Call, meta: TensorMeta, *, output: bool = True) -> str:
    """``h_n`` for an LSTM's ``1.0`` output; the path itself otherwise."""
    if output:
        names = OUTPUT_NAMES.get(call.type, {})
    elif call.type.endswith(("Loss", "_loss")) or call.type.rsplit(".", 1)[-1] in LOSS_OPS:  # F.cross_entropy too
        names = _LOSS_INPUT_NAMES
    else:
        names = INPUT_NAMES.get(call.type, {})
    return names.get(meta.path, meta.path)


def labelled_shapes(
    call: Call, metas: Sequence[TensorMeta], *, output: bool = True, names: Sequence[str] | None = None
) -> list[str]:
    """One ``name (shape)`` per tensor, by ``tensor_name`` unless ``names``
    gives them; a lone tensor is just its shape."""
    if len(metas) == 1 and (metas[0].path in ("", "0")):
        return [format_shape(metas[0])]
    if names is None:
        names = [tensor_name(call, m, output=output) for m in metas]
    return [f"{name} {format_shape(m)}".strip() for name, m in zip(names, metas)]


def dtype_label(metas: Sequence[TensorMeta]) -> str:
    return ", ".join(dict.fromkeys(dtype_name(m.dtype) for m in metas))


def device_label(metas: Sequence[TensorMeta]) -> str:
    return ", ".join(dict.fromkeys(m.device for m in metas))


_LIBRARY_DIRS = ("site-packages", "dist-packages")


def is_library_file(filename: str) -> bool:
    """Whether a file is an installed package's (under ``site-packages`` or ``dist-packages``),
    not the user's own code."""
    return any(part in _LIBRARY_DIRS for part in filename.split(os.sep))


def short_path(filename: str) -> str:
    """A library's path relative to its ``site-packages`` (``neuralforecast/models/lstm.py``),
    also in a venv inside the working directory (``.venv/lib/...``); another path relative
    to the working directory when it lies below it; else as is."""
    if filename.startswith("<"):
        return filename
    parts = filename.split(os.sep)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in _LIBRARY_DIRS:
            return os.sep.join(parts[index + 1 :])
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        relative = ".."
    return filename if relative.startswith("..") else relative


def notebook_cell(filename: str) -> str | None:
    """``In [2]`` for the file IPython compiled a cell's code into, in the
    running kernel (its temp-file name means nothing to the reader); else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    numbers = getattr(getattr(shell, "compile", None), "_filename_map", None)
    number = numbers.get(filename) if isinstance(numbers, dict) else None
    return None if number is None else f"In [{number}]"


def format_list(items: Sequence[str]) -> str:
    """Words joined as a sentence lists them.

    >>> format_list(["a"]), format_list(["a", "b"]), format_list(["a", "b", "c"])
    ('a', 'a and b', 'a, b and c')
    """
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def format_location(location: Location | None) -> str:
    """``demos/lstm_forecaster.py:32``; ``In [2], line 2`` for a notebook cell."""
    if location is None:
        return ""
    cell = notebook_cell(location.filename)
    if cell is not None:
        return f"{cell}, line {location.lineno}"
    return f"{short_path(location.filename)}:{location.lineno}"


def _format_arg(value: Any) -> str:
    if isinstance(value, dict):
        if "tensor" in value:
            return "T"
        if "slice" in value:
            start, stop, step = (("" if v is None else _format_arg(v)) for v in value["slice"])
            return f"{start}:{stop}" + (f":{step}" if step else "")
        if "ellipsis" in value:
            return "..."
        if "dtype" in value:
            return f"torch.{value['dtype']}"
        if "device" in value:
            return repr(value["device"])
        if "object" in value:
            return f"<{value['object']}>"
        return "{" + ", ".join(f"{k!r}: {_format_arg(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        parts = [_format_arg(v) for v in value]
        if len(parts) > 3 and len(set(parts)) == 1:  # torch.cat(outputs) of a 1,999-step loop
            return f"({parts[0]} ×{len(parts)})"
        return "(" + ", ".join(parts) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def format_op(call: Call, max_width: int = 48) -> str:
    """The op as the user wrote it, tensors elided: ``view(5, 30, 1)``, ``[:, -1, :]``."""
    args = list(call.args)
    method = call.type.startswith("Tensor.")
    if method and args and isinstance(args[0], dict) and "tensor" in args[0]:
        args = args[1:]
    if call.name == "__getitem__" and args:
        index = args[0]
        items = index if isinstance(index, tuple) else (index,)
        return "[" + ", ".join(_format_arg(v) for v in items) + "]"
    if call.name == "__setitem__" and args:
        index = args[0]
        items = index if isinstance(index, tuple) else (index,)
        return "[" + ", ".join(_format_arg(v) for v in items) + "] = ..."
    if call.name in TENSOR_PROPERTIES:
        return f".{call.name}"
    parts = [_format_arg(v) for v in args]
    # Python-level functions receive every parameter: the ones at their default
    # (``inplace=False``), None or private (``_stacklevel=3``) are not what the user wrote.
    defaults = python_defaults(call.type) if call.kwargs else {}
    parts += [
        f"{k}={_format_arg(v)}"
        for k, v in call.kwargs.items()
        if v is not None and not k.startswith("_") and not _is_default(v, defaults.get(k, _NO_DEFAULT))
    ]
    text = f"{call.name}({', '.join(parts)})"
    if len(text) > max_width:
        # Whole arguments are left out, never part of one: a cut number
        # (``reshape(3, 12…)`` for ``reshape(3, 1280)``) reads as another size.
        kept = parts[:]
        while kept and len(f"{call.name}({', '.join([*kept, '…'])})") > max_width:
            kept.pop()
        text = f"{call.name}({', '.join([*kept, '…'])})"
    return f".{text}" if method else text


_NO_DEFAULT = object()


def _is_default(value: Any, default: Any) -> bool:
    """``value`` is ``default`` as written (``padding=0``), not merely equal (``False == 0``)."""
    if default is _NO_DEFAULT or type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except Exception:  # a value whose == is not a plain bool
        return False


def format_count(n: int) -> str:
    return f"{n:,}"
