"""What a trace knows of an error raised in the backward pass.

The backward pass runs after the forward that a trace records: its errors
(autograd's own, or one raised in a custom ``torch.autograd.Function``'s
``backward``) name no line of the user's forward. This module finds, from the
exception's traceback and what the trace recorded, the forward call behind
one, as plain facts (``backward_facts``) that the note
(``analyze/backward_note.py``) words:

- ``"not_scalar"``: ``.backward()`` without a gradient on a tensor of more than
  one element ("grad can be implicitly created only for scalar outputs"):
  the call that made that tensor;
- ``"grad_shape"``: a gradient passed (``out.backward(grad)``) of another shape
  than its tensor ("Mismatch in shape: grad_output[0] ..."): both shapes and
  the call that made the tensor;
- ``"function"``: a custom Function's backward raised, or returned a gradient
  of the wrong shape: the forward call of that Function (its line, input
  and output shapes), which ``FunctionCalls`` notes while the block runs;

The tensors come from the frames autograd's Python code left in the
traceback (``_make_grads``' ``outputs`` and ``grads``, ``Function.apply``'s
node); only their metadata is read, and nothing is kept past the call.
"""

from __future__ import annotations

import re
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch
from torch.autograd.function import Function

from shapetrace.core.tensor_meta import collect_metas
from shapetrace.core.torch_private import DisableTorchFunction
from shapetrace.record import frames

# The functions of autograd's Python code that start a backward pass: (file, name).
_AUTOGRAD_FRAMES = {
    ("torch/_tensor.py", "backward"),
    ("torch/autograd/__init__.py", "backward"),
    ("torch/autograd/__init__.py", "grad"),
    ("torch/autograd/__init__.py", "_make_grads"),
    ("torch/autograd/graph.py", "_engine_run_backward"),
}
_NOT_SCALAR = "grad can be implicitly created only for scalar outputs"
_MISMATCH = re.compile(r"Mismatch in shape: grad_output\[(\d+)\] has a shape of torch\.Size\(\[([\d, ]*)\]\)")
_INVALID = re.compile(
    r"Function (\w+) returned an invalid gradient at index (\d+) - got \[([\d, ]*)\]"
    r" but expected shape compatible with \[([\d, ]*)\]"
)
# The Function calls kept for a block: the latest, a few per Function in a loop.
_KEPT_FUNCTION_CALLS = 64


def _shape(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _where(frame: FrameType | None) -> list[Any] | None:
    location = frames.location_of(frame)
    return None if location is None else [location.filename, location.lineno, location.code]


class FunctionCalls:
    """The custom ``torch.autograd.Function`` calls of a block: for each, its
    class's name, the user's line that called ``apply``, its inputs' and
    outputs' shapes, and its backward node (weakly: the node of a call
    whose backward raised is alive in the traceback)."""

    def __init__(self, thread: int, busy: Callable[[], bool]) -> None:
        self._thread = thread
        self._busy = busy
        self.calls: deque[dict[str, Any]] = deque(maxlen=_KEPT_FUNCTION_CALLS)
        self._nodes: deque[tuple[weakref.ref, dict[str, Any]]] = deque(maxlen=_KEPT_FUNCTION_CALLS)

    def note(self, cls: type, args: tuple, result: Any, caller: FrameType | None) -> None:
        """``cls.apply(*args)`` returned ``result``, called from the frame ``caller``."""
        if threading.get_ident() != self._thread or self._busy():
            return
        with DisableTorchFunction():  # no mode or subclass of the user's sees the reads
            inputs = [list(meta.shape) for meta in collect_metas(args)]
            outputs = collect_metas(result)
            node = next((t.grad_fn for t in _tensors(result) if t.grad_fn is not None), None)
        call = {
            "function": cls.__name__,
            "at": _where(frames.first_user_frame(caller)),
            "inputs": inputs,
            "outputs": [list(meta.shape) for meta in outputs],
        }
        self.calls.append(call)
        if node is not None:
            try:
                self._nodes.append((weakref.ref(node), call))
            except TypeError:  # (a custom node takes weak references; a built-in one would not)
                pass

    def of_node(self, node: Any) -> dict[str, Any] | None:
        """The call whose backward node is ``node`` (a ``BackwardCFunction``), if kept."""
        return next((call for ref, call in reversed(self._nodes) if ref() is node), None)

    def of_function(self, name: str, index: int | None = None, shape: list[int] | None = None) -> dict | None:
        """The latest call of Function ``name``, preferring one whose input ``index`` is ``shape``."""
        named = [call for call in reversed(self.calls) if call["function"] == name]
        if shape is not None:
            fitting = [
                c for c in named if index is not None and index < len(c["inputs"]) and c["inputs"][index] == shape
            ]
            if fitting:
                return fitting[0]
        return named[0] if named else None


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


# The blocks recording Function calls, innermost last; ``Function.apply`` is
# wrapped while there is one.
_active: list[FunctionCalls] = []
_original_apply: list[Any] = []


def _apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    __tracebackhide__ = True
    result = _original_apply[0].__func__(cls, *args, **kwargs)
    if _active:
        _active[-1].note(cls, args, result, sys._getframe(1))
    return result


def watch_functions(calls: FunctionCalls) -> None:
    """Note ``Function.apply``'s calls into ``calls`` until ``unwatch_functions``."""
    if not _active:
        _original_apply.append(Function.__dict__["apply"])
        Function.apply = classmethod(_apply)  # type: ignore[assignment, method-assign]
    _active.append(calls)


def unwatch_functions(calls: FunctionCalls) -> None:
    """Stop noting into ``calls``; ``Function.apply`` is put back after the last block."""
    if calls in _active:
        _active.remove(calls)
    if not _active and _original_apply:
        Function.apply = _original_apply.pop()  # type: ignore[method-assign]


def _frames_of(exc: BaseException) -> list[FrameType]:
    found = []
    tb = exc.__traceback__
    while tb is not None:
        found.append(tb.tb_frame)
        tb = tb.tb_next
    return found


def _is_autograd(frame: FrameType) -> bool:
    code = frame.f_code
    filename = code.co_filename.replace("\\", "/")
    return any(code.co_name == name and filename.endswith(file) for file, name in _AUTOGRAD_FRAMES)


def backward_facts(
    exc: BaseException, identity_of: Callable[[torch.Tensor], int | None], functions: FunctionCalls | None
) -> dict[str, Any] | None:
    """The facts of ``exc`` if it was raised in a backward pass, else None.

    ``identity_of``: a tensor's number in the trace (``MetaTable.known_identity``),
    None for one it never met; the facts name the call by ``made_by`` (a
    tensor number: the trace says which call returned it). Never raises.
    """
    try:
        with DisableTorchFunction():
            return _facts(exc, identity_of, functions)
    except Exception:  # a bug of ours must not mask the user's error
        return None


def _facts(
    exc: BaseException, identity_of: Callable[[torch.Tensor], int | None], functions: FunctionCalls | None
) -> dict[str, Any] | None:
    stack = _frames_of(exc)
    first = next((i for i, frame in enumerate(stack) if _is_autograd(frame)), None)
    if first is None:
        return None
    user = next((f for f in reversed(stack[:first]) if not frames.is_internal(f.f_code)), None)
    facts: dict[str, Any] = {"at": _where(user)}
    message = str(exc)
    grads_frame = next((f for f in stack[first:] if f.f_code.co_name == "_make_grads"), None)
    apply_frame = next(
        (i for i, f in enumerate(stack) if i > first and f.f_code.co_name == "apply" and "fwd_cls" in f.f_locals),
        None,
    )
    if grads_frame is not None and (message.startswith(_NOT_SCALAR) or _MISMATCH.match(message)):
        outputs, grads = grads_frame.f_locals.get("outputs", ()), grads_frame.f_locals.get("grads", ())
        mismatch = _MISMATCH.match(message)
        if mismatch is not None:
            index = int(mismatch.group(1))
            facts.update(form="grad_shape", index=index, grad_shape=_shape(mismatch.group(2)))
        else:
            index = next(
                (i for i, (out, grad) in enumerate(zip(outputs, grads)) if grad is None and out.numel() != 1), 0
            )
            facts["form"] = "not_scalar"
        if index < len(outputs):
            out = outputs[index]
            facts.update(shape=list(out.shape), made_by=identity_of(out), grad_fn=type(out.grad_fn).__name__)
        return facts
    if apply_frame is not None:  # a custom Function's backward raised
        node = stack[apply_frame].f_locals.get("self")
        cls = stack[apply_frame].f_locals.get("fwd_cls")
        inner = stack[apply_frame + 1] if apply_frame + 1 < len(stack) else None
        grads = stack[apply_frame].f_locals.get("args", ())
        facts.update(form="function", function=getattr(cls, "__name__", "?"), raised_at=_where(inner))
        facts["grads"] = [list(g.shape) for g in grads if isinstance(g, torch.Tensor)]
        if functions is not None:
            facts["forward"] = functions.of_node(node) or functions.of_function(facts["function"])
        return facts
    invalid = _INVALID.match(message)
    if invalid is not None:
        node_name, index = invalid.group(1), int(invalid.group(2))
        got, expected = _shape(invalid.group(3)), _shape(invalid.group(4))
        facts.update(index=index, got=got, expected=expected)
        forward = None
        if functions is not None and node_name.endswith("Backward"):
            forward = functions.of_function(node_name.removesuffix("Backward"), index, expected)
        if forward is not None:
            facts.update(form="function", function=forward["function"], forward=forward)
            return facts
    return None
