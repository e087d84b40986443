"""Small helpers the detectors share: where a call is, what it was called on."""

from __future__ import annotations

from shapetrace.analyze.checks._source import find_call, subscripted
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_op, format_shape, tensor_name


def call_label(call: Call, *keys: str) -> str:
    """``lstm (LSTM, batch_first=False)``: a module with the settings that matter;
    an op as written."""
    if call.kind == "op":
        return op_text(call)
    settings = ", ".join(f"{key}={call.config[key]}" for key in keys if key in call.config)
    return f"{call.name or 'the model'} ({call.type}{', ' + settings if settings else ''})"


def raised_here(call: Call) -> bool:
    """True when the call's error began in it, not in a call inside it."""
    return call.error is not None and not any(child.error is not None for child in call.children)


def at_line(call: Call) -> str:
    """``at line 24``, the way messages name the user's line."""
    return f"at line {call.location.lineno}" if call.location is not None else "in the trace"


def pass_root(call: Call) -> Call:
    """The top-level call (one forward pass of the model) a call belongs to."""
    while call.parent is not None:
        call = call.parent
    return call


def argument_text(call: Call, position: int = 0, default: str = "x") -> str:
    """The source of a module call's argument: ``x`` in ``self.lstm(x)``."""
    attribute = call.name.rpartition(".")[2]
    found = find_call(call.location, {attribute, "forward"} if attribute else {"forward"})
    if found is not None and position < len(found.args):
        return found.args[position]
    return default


def receiver_text(call: Call, default: str = "x") -> str:
    """The tensor an op was called on: ``out`` in ``out.view(150, 64)``."""
    if call.name == "__getitem__":
        return subscripted(call.location) or default
    found = find_call(call.location, {call.name}, occurrence=call.index)
    if found is not None and found.receiver not in (None, "torch", "F", "nn.functional", "torch.nn.functional"):
        return found.receiver
    if found is not None and found.args:  # torch.reshape(x, ...): the first argument
        return found.args[0]
    return default


def op_text(call: Call) -> str:
    """The op as written: ``out.view(150, 64)``, ``out[:, -1, :]``,
    ``torch.zeros(1, 5, 64)``; a function of tensors by name: ``F.mse_loss``."""
    text = format_op(call)
    if text.startswith((".", "[")):
        return receiver_text(call) + text
    if call.inputs:
        return call.type
    namespace = call.type.rpartition(".")[0]
    return f"{namespace}.{text}" if namespace else text


def operand(call: Call, meta: TensorMeta) -> str:
    """``h_0 (1, 32, 64)`` for a named input, ``a (32, 64) tensor`` otherwise."""
    name = tensor_name(call, meta, output=False)
    if name and name != meta.path:
        return f"{name} {format_shape(meta)}"
    return f"a {format_shape(meta)} tensor"
