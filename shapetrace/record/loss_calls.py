"""Functional losses recorded with ops off (``trace(ops=False)``, ``run --no-op-recording``).

The loss that compares a model's output with its target is where the most
common silent shape bug sits (``F.mse_loss`` of ``(N, 1)`` and ``(N,)``), and
the loss checks (ST005, ST016) read its call. With ops on, the op mode
records it (op_mode.py); with ops off there is no mode, and pushing one for
the losses would send every op through Python again. So the functional
losses alone (``torch_facts.LOSS_OPS``) are wrapped, in ``torch.nn.functional``,
while the block runs: every other op costs nothing, and a loss call costs a
few checks unless it is recorded.

A wrapped loss is recorded where the op mode would record it: called from the
user's code (not from a loss module's ``forward``, which is recorded as the
module), inside a recorded module, or outside any where the trace records ops
at the top level (``trace()``), or, under ``shapetrace run``, after a
recorded pass until the next one starts (module_calls.py's ``pass_ended``).
Under ``shapetrace run`` (ops on or off) it also records, after a pass left out
as like one recorded (``repeat_ended``), a loss whose name and shapes no loss
recorded had (``loss_signatures``): an actor-critic's value loss after an
episode of steps, each a pass of the same shapes, of which only the first
was recorded. With ops on, what the op mode records it leaves to the mode.
The functions themselves are changed, not ``torch.nn.functional``'s names:
each loss function's code is swapped, for the block, for a two-line
trampoline that hands the call to its hook (a copy of the function with the
original code runs the loss). So a name bound before the block (``from
torch.nn.functional import mse_loss`` at a script's top, a loss kept in a
dict or a default argument) is the same function and is recorded; nothing
else changes (``is``, pickling by name, ``inspect.signature`` through
``__wrapped__``, which the block sets and removes).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch.nn.functional as F

from shapetrace.core.torch_facts import LOSS_OPS, describe_op
from shapetrace.record import frames
from shapetrace.record.recording_state import RecordingState, loss_signature

_get_ident = threading.get_ident


def _wants_loss(recorder: RecordingState, name: str, args: tuple, kwargs: dict) -> bool:
    """Whether a loss called now is one the trace keeps (its caller aside)."""
    if recorder.busy or _get_ident() != recorder.thread or recorder._skipping:
        return False
    if recorder.repeat_ended and not recorder._stack and not recorder.fetching and not recorder.ops_wanted:
        # after a pass like one recorded: only a loss the trace has not seen yet
        return loss_signature(name, args, kwargs) not in recorder.loss_signatures
    if recorder.ops:
        return False  # the op mode records the rest
    if recorder._stack:
        return True
    return not recorder.fetching and (recorder.losses_at_top or recorder.pass_ended)


_SENTINEL = "shapetrace: the loss hook"  # replaced, in the trampoline's constants, by the hook


class _LossHook:
    """What a loss's trampoline calls: the loss recorded by the innermost
    block that wants it (``recorders``: the blocks' recorders, outermost
    first), or run as it is."""

    def __init__(self, function: Callable) -> None:
        self.function = function
        self.code = function.__code__
        self.original = _copy_of(function)
        described = describe_op(function)
        assert described is not None  # (a loss: torch_facts names every one)
        self.described = described
        self.recorders: list[RecordingState] = []
        self.trampoline = _trampoline(function.__name__, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return self._run(len(self.recorders) - 1, sys._getframe(1), args, kwargs)

    def _run(self, level: int, frame: Any, args: tuple, kwargs: dict) -> Any:
        __tracebackhide__ = True
        while level >= 0 and not _wants_loss(self.recorders[level], self.described[0], args, kwargs):
            level -= 1
        caller = frames.op_caller(frame)  # (past the trampoline, a transparent frame)
        if level < 0 or caller is None or frames.is_internal(caller.f_code):
            # not recorded here (a loss module's forward, library code: recorded as
            # the module, or by the op mode), and run as if from its caller's line,
            # where PyTorch's warnings (stacklevel=2) name it untraced
            if caller is None:
                return self.original(*args, **kwargs)
            return frames.op_site(caller)[1](self.original, args, kwargs)
        recorder = self.recorders[level]
        # Code ran unseen since the last read (no op mode): metadata read
        # before may be stale (an in-place unsqueeze_).
        recorder._table.changed()
        # PyTorch's warning on broadcasting names the line that called the loss.
        location, call = frames.op_site(caller)
        if level == 0:
            return recorder.run_loss_op(self.described, location, call, self.original, args, kwargs, caller.f_lasti)

        def outer(*args: Any, **kwargs: Any) -> Any:  # the blocks around this one
            return self._run(level - 1, frame, args, kwargs)

        return recorder.run_loss_op(self.described, location, call, outer, args, kwargs, caller.f_lasti)


def _copy_of(function: Callable) -> Callable:
    """The loss as it is, a function object of its own (the original is
    changed while a block runs)."""
    copy = types.FunctionType(
        function.__code__, function.__globals__, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__, copy.__module__, copy.__doc__ = function.__qualname__, function.__module__, function.__doc__
    copy.__annotations__ = function.__annotations__
    return copy


def _trampoline(name: str, hook: _LossHook) -> types.CodeType:
    """``def name(*args, **kwargs): return hook(*args, **kwargs)``, with the
    hook a constant: no free variable (the loss has none: its code can be
    swapped) and no global (nothing added to ``torch.nn.functional``)."""
    source = f"def {name}(*args, **kwargs):\n    return {_SENTINEL!r}(*args, **kwargs)\n"
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # ("'str' object is not callable": replaced below)
        exec(compile(source, __file__, "exec"), namespace)
    code = namespace[name].__code__
    consts = tuple(hook if isinstance(c, str) and c == _SENTINEL else c for c in code.co_consts)
    code = code.replace(co_consts=consts)
    frames.add_transparent(code)
    return code


# With ops on, a loss the hook leaves to the op mode reaches the mode from the
# original's body, called here: the mode's caller is the user's line above these.
frames.add_transparent(_LossHook.__call__.__code__)
frames.add_transparent(_LossHook._run.__code__)

_HOOKS: list[_LossHook] = []


def _hooks() -> list[_LossHook]:
    """One hook per loss, made once (their trampolines are kept as transparent frames)."""
    if not _HOOKS:
        for name in sorted(LOSS_OPS):
            function = getattr(F, name, None)
            if isinstance(function, types.FunctionType) and not function.__code__.co_freevars:
                _HOOKS.append(_LossHook(function))
    return _HOOKS


@contextlib.contextmanager
def losses_recorded(recorder: RecordingState) -> Iterator[None]:
    """While the block runs, ``torch.nn.functional``'s losses are recorded by ``recorder``.

    For a recorder with ops off, and one that leaves out passes like one recorded
    (``shapetrace run``: the loss after such a pass, where no op mode runs); the
    losses' code is put back when the (outermost) block ends, also when it raises.
    """
    hooks = _hooks()
    for hook in hooks:
        if not hook.recorders:
            hook.function.__code__ = hook.trampoline
            hook.function.__wrapped__ = hook.original  # type: ignore[attr-defined]
        hook.recorders.append(recorder)
    try:
        yield
    finally:
        for hook in hooks:
            if recorder in hook.recorders:
                hook.recorders.remove(recorder)
            if not hook.recorders:
                hook.function.__code__ = hook.code
                with contextlib.suppress(AttributeError):
                    del hook.function.__wrapped__  # type: ignore[attr-defined]
