"""ST009 dtype-mismatch: data of one dtype into weights or tensors of another.

The classic: a NumPy array becomes a float64 tensor, the model's weights are
float32, and the first Linear or LSTM raises. Module weights are not in the
trace, so a failed call whose error speaks of dtypes is explained from its
inputs. A call that succeeds but silently promotes float32 to float64
(``mse_loss(pred, target64)``) is a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, operand, raised_here
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.core.trace import Trace

_DTYPE_ERROR = re.compile(r"\bdtype|scalar type", re.IGNORECASE)
# PyTorch's distributed debug text (TORCH_DISTRIBUTED_DEBUG=DETAIL) lists each
# rank's "TensorDtypes=Float": a collective's mismatch, not a dtype bug.
_COLLECTIVE_DEBUG = re.compile(r"CollectiveFingerPrint|mismatch between collectives")
_TORCH_DTYPE = re.compile(r"torch\.(float64|float32|float16|bfloat16|int64|int32)")
# The names PyTorch's error messages use for dtypes.
_LEGACY_NAMES = {
    "Double": "float64",
    "Float": "float32",
    "Half": "float16",
    "BFloat16": "bfloat16",
    "Long": "int64",
    "Int": "int32",
}
_LEGACY = re.compile(r"\b(" + "|".join(_LEGACY_NAMES) + r")\b")


def _named_dtypes(error: str) -> list[str]:
    names = _TORCH_DTYPE.findall(error) or [_LEGACY_NAMES[n] for n in _LEGACY.findall(error)]
    return list(dict.fromkeys(names))


def _hint(metas: list[TensorMeta], wanted: str | None) -> str:
    floats = [m for m in metas if m.dtype.is_floating_point]
    if wanted in ("int64", "int32") or (not floats and metas):
        return "indices must be integers: use x.long()"
    if wanted is not None:
        method = {"float32": "float", "float64": "double", "float16": "half", "bfloat16": "bfloat16"}.get(wanted)
        conversion = f"x.{method}()" if method else f"x.to(torch.{wanted})"
        return f"convert the data: {conversion} (NumPy arrays become float64 tensors: torch.from_numpy(a).float())"
    return "convert the data to the model's dtype: x.float()"


def _failed(call: Call) -> Finding | None:
    metas = [m for m in call.inputs if m.shape]
    if not metas:
        return None
    given = {dtype_name(m.dtype) for m in metas}
    named = _named_dtypes(call.error or "")
    wanted = next((name for name in named if name not in given), None)
    shown = ", ".join(f"{operand(call, m)} of {dtype_name(m.dtype)}" for m in metas[:3])
    expected = ""
    if wanted in ("int64", "int32"):
        expected = ", but it takes integer indices"
    elif wanted:
        expected = f", but its weights are {wanted}" if call.num_params else f", but it expects {wanted}"
    message = f"{call_label(call)} {at_line(call)} got {shown}{expected}"
    return finding("ST009", call, message, _hint(metas, wanted))


def _promotes(call: Call) -> Finding | None:
    """Float64 mixed with a lower float precision: the result silently goes float64."""
    floats = [m for m in call.inputs if m.shape and m.dtype.is_floating_point]
    if not any(m.dtype == torch.float64 for m in floats) or all(m.dtype == torch.float64 for m in floats):
        return None
    shown = ", ".join(f"{operand(call, m)} of {dtype_name(m.dtype)}" for m in floats[:3])
    message = f"{call_label(call)} {at_line(call)} mixes {shown}: the result is float64"
    return finding("ST009", call, message, "convert the float64 tensor: t.float()", "warning")


@register("ST009", "dtype-mismatch", "error", "e.g. float64 data into float32 weights")
def check_dtype(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        found = None
        if (
            raised_here(call)
            and _DTYPE_ERROR.search(call.error or "")
            and not _COLLECTIVE_DEBUG.search(call.error or "")
        ):
            found = _failed(call)
        elif call.error is None and (call.kind == "op" or is_builtin(call)):
            found = _promotes(call)
        if found is not None:
            yield found
