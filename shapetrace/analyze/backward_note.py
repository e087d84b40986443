"""The note of an error raised in the backward pass: the forward call behind it.

Autograd's errors name no line of the user's forward ("grad can be implicitly
created only for scalar outputs", "Function MulBackward0 returned an invalid
gradient at index 0"). The record side (``record/backward_error.py``) keeps
what the traceback says of one in the trace's meta, ``backward_error``; this
module words it with the calls of the trace: which op or module made the
tensor, which forward call of a custom ``autograd.Function`` raised.
"""

from __future__ import annotations

from typing import Any

from shapetrace.core.records import Call, Location
from shapetrace.core.text import format_location, format_op
from shapetrace.core.torch_facts import LOSS_OPS

_PREFIX = "shapetrace:"


def backward_note(trace: Any) -> str | None:
    """The note for a trace whose block raised in a backward pass, else None."""
    facts = trace.meta.get("backward_error")
    if not isinstance(facts, dict):
        return None
    form = facts.get("form")
    started = _place(facts.get("at"))
    lines = [f"{_PREFIX} raised in the backward pass" + (f" started at {started}" if started else "")]
    lines += _code(facts.get("at"))
    if form in ("not_scalar", "grad_shape"):
        lines += _made_tensor(trace, facts)
    elif form == "function":
        lines += _function(facts)
    else:
        return None
    return "\n".join(lines)


def _place(where: Any) -> str:
    if not where:
        return ""
    return format_location(Location(where[0], where[1]))


def _code(where: Any, indent: str = "    ") -> list[str]:
    return [f"{indent}{where[2]}"] if where and len(where) > 2 and where[2] else []


def _dims(shape: Any) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _maker(trace: Any, number: Any) -> Call | None:
    """The outermost call that returned tensor ``number`` (a model's output: the
    model's call, not its last layer's), the latest if several."""
    if number is None:
        return None
    made = [call for call in trace.calls if number in call.output_ids]
    return min(made, key=lambda call: (call.depth, -call.id)) if made else None


def _what(call: Call) -> str:
    return format_op(call) if call.kind == "op" else f"{call.name or 'the root'} ({call.type})"


def _made_tensor(trace: Any, facts: dict) -> list[str]:
    shape = facts.get("shape")
    maker = _maker(trace, facts.get("made_by"))
    made = f" made by {_what(maker)} at {format_location(maker.location)}" if maker is not None else ""
    lines = []
    if facts["form"] == "not_scalar":
        lines.append(f"  the tensor backward() was called on is {_dims(shape)}, not a single number:{made}")
        if maker is not None and maker.location is not None and maker.location.code:
            lines.append(f"    {maker.location.code}")
        if maker is not None and maker.kwargs.get("reduction") == "none":
            fix = f"{maker.name} has reduction='none': drop it (the mean), or reduce the loss with .mean() or .sum()"
        elif maker is not None and maker.name in LOSS_OPS:
            fix = "reduce the loss to one number with .mean() or .sum() before .backward()"
        else:
            fix = (
                "a loss is one number: reduce it with .mean() or .sum() before .backward(),"
                f" or pass backward(gradient) of shape {_dims(shape)}"
            )
        lines.append(f"  help: {fix}")
        return lines
    index, grad = facts.get("index", 0), facts.get("grad_shape")
    lines.append(f"  gradient {index} is {_dims(grad)}; the tensor it is for is {_dims(shape)},{made}")
    if maker is not None and maker.location is not None and maker.location.code:
        lines.append(f"    {maker.location.code}")
    lines.append(
        f"  help: backward(gradient) takes a gradient of its tensor's shape {_dims(shape)}"
        f" (reshape the one passed, or call backward on a tensor of shape {_dims(grad)})"
    )
    return lines


def _function(facts: dict) -> list[str]:
    name = facts.get("function", "?")
    forward = facts.get("forward")
    lines = []
    raised = facts.get("raised_at")
    if raised:
        lines.append(f"  in {name}.backward at {_place(raised)} (a custom autograd.Function)")
        lines += _code(raised)
        if facts.get("grads") is not None:
            lines.append(f"  its gradients in: {', '.join(_dims(shape) for shape in facts['grads']) or 'none'}")
    elif "got" in facts:
        index, expected = facts.get("index", 0), facts.get("expected")
        lines.append(
            f"  {name}.backward returned a gradient of {_dims(facts['got'])} for input {index} of its forward,"
            f" which is {_dims(expected)}"
        )
    if forward:
        shapes = ", ".join(_dims(shape) for shape in forward.get("inputs", []))
        outputs = ", ".join(_dims(shape) for shape in forward.get("outputs", []))
        lines.append(
            f"  its forward: {name}.apply({shapes}) -> {outputs or 'no tensor'} at {_place(forward.get('at'))}"
        )
        lines += _code(forward.get("at"))
    if "got" in facts:
        lines.append(
            "  help: backward returns one gradient per input of forward, each of that input's shape"
            " (None for an input that needs none)"
        )
    return lines
