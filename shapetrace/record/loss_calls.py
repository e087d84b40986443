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
A name bound before the block (``from torch.nn.functional import mse_loss``)
keeps the original function and is not recorded.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch.nn.functional as F

from shapetrace.core.torch_facts import LOSS_OPS, describe_op
from shapetrace.record import frames
from shapetrace.record.recording_state import RecordingState

_get_ident = threading.get_ident


def _wants_loss(recorder: RecordingState) -> bool:
    """Whether a loss called now is one the trace keeps (its caller aside)."""
    if recorder.busy or _get_ident() != recorder.thread or recorder._skipping:
        return False
    if recorder._stack:
        return True
    return not recorder.fetching and (recorder.losses_at_top or recorder.pass_ended)


def _wrap(recorder: RecordingState, original: Callable, live: list[bool]) -> Callable:
    described = describe_op(original)
    assert described is not None  # (a loss: torch_facts names every one)

    def loss(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not live[0] or not _wants_loss(recorder):
            return original(*args, **kwargs)
        caller = frames.op_caller(sys._getframe(1))
        if caller is None or frames.is_internal(caller.f_code):
            return original(*args, **kwargs)  # a loss module's forward, or library code
        # Code ran unseen since the last read (no op mode): metadata read
        # before may be stale (an in-place unsqueeze_).
        recorder._table.changed()
        # PyTorch's warning on broadcasting names the line that called the loss.
        location, call = frames.op_site(caller)
        return recorder.run_op(described, location, call, original, args, kwargs)

    frames.add_transparent(loss.__code__)
    return functools.update_wrapper(loss, original)  # (its name, and pickled by reference)


@contextlib.contextmanager
def losses_recorded(recorder: RecordingState) -> Iterator[None]:
    """While the block runs, ``torch.nn.functional``'s losses are recorded by ``recorder``.

    For a recorder with ops off; the originals are put back when the block
    ends, also when it raises. A wrapper kept past the block (bound by name
    inside it) calls the original and records nothing.
    """
    live = [True]
    saved = []
    for name in sorted(LOSS_OPS):
        original = getattr(F, name, None)
        if original is None:
            continue
        saved.append((name, original))
        setattr(F, name, _wrap(recorder, original, live))
    try:
        yield
    finally:
        live[0] = False
        for name, original in reversed(saved):
            setattr(F, name, original)
