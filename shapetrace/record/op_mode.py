"""The torch function mode that records the user's tensor operations.

It is pushed only while the user's own code runs: the recorder pops it inside
PyTorch's built-in modules, because any active torch function mode disables
PyTorch's fast paths (``TransformerEncoderLayer`` inference measured 1.22x
slower, results off by ~1e-6).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from torch.overrides import TorchFunctionMode

from shapetrace.core.torch_facts import CHANGES_METADATA, describe_op
from shapetrace.core.torch_private import (
    pop_torch_function_mode,
    push_torch_function_mode,
    torch_function_mode_count,
)
from shapetrace.record import frames
from shapetrace.record.module_info import COMPOSITE_CODES

if TYPE_CHECKING:
    from shapetrace.record.recording_state import RecordingState

_get_ident = threading.get_ident
_internal = frames.internal_cache()
_helper = frames.helper_cache()
_ITER_CODE = frames.ITER_CODE
# The most pieces an unpacked tensor is recorded in: q, k, v or a few heads, not a dataset's rows.
_ITER_PIECES = 64
# Kept alive by module_info's frozenset: their ids are never reused.
_COMPOSITE_IDS = frozenset(id(code) for code in COMPOSITE_CODES)


class OpMode(TorchFunctionMode):
    def __init__(self, recorder: RecordingState) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        __tracebackhide__ = True  # pytest shows the user's line, not this frame
        if kwargs is None:
            kwargs = {}
        described = describe_op(func)
        if described is None:  # bookkeeping, never recorded
            return _unrecorded(sys._getframe(1), func, args, kwargs)
        recorder = self.recorder
        # (an ``out=`` tensor is resized in place when its shape differs)
        changes = described[0] in CHANGES_METADATA or "out" in kwargs
        if not recorder.ops_wanted or recorder.busy or _get_ident() != recorder.thread:
            return _unrecorded(sys._getframe(1), func, args, kwargs, recorder if changes else None)
        # Outside any pass (``outside``): the loss of the pass that returned, or an op
        # recorded aside under ``shapetrace run`` (record/before_pass.py), or neither.
        outside = (recorder.losses_only or recorder.aside) and recorder.outside_kind(described[0], args)
        if outside is None:
            return _unrecorded(sys._getframe(1), func, args, kwargs, recorder if changes else None)
        caller = frames.op_caller(sys._getframe(1))
        # The internal-code test is read from frames' cache inline: this runs
        # for every op (a call to frames.is_internal costs as much as the lookup).
        if caller is None:
            internal = library = True
        else:
            code = caller.f_code
            if code is _ITER_CODE and args[0].shape[0] <= _ITER_PIECES and caller.f_back is not None:
                # ``q, k, v = qkv``: the unbind(0) Tensor.__iter__ runs is the unpacking line's op;
                # iterating a dataset's rows (``for row in x``) stays unrecorded, as torch's own code
                caller = caller.f_back
                code = caller.f_code
            cached = _internal.get(id(code))
            internal = frames.is_internal(code) if cached is None else cached
            # (by id: hashing a code object hashes its bytecode, ~0.5 us)
            library = internal and id(code) not in _COMPOSITE_IDS
            if not internal:  # an op of einops' rearrange: recorded, at the line that called it
                helper = _helper.get(id(code))
                internal = frames.is_helper(code) if helper is None else helper
        if library and recorder.ops != "all":
            # an op of library code, not of the user's (nor a transformer layer's add)
            described = frames.packing_op(caller, described[0])
            if described is None:
                return _unrecorded(sys._getframe(1), func, args, kwargs, recorder if changes else None)
        # A caller outside torch and shapetrace is the user's frame itself.
        user_frame = frames.first_user_frame(caller) if internal else caller
        if user_frame is not None:
            # PyTorch's warnings name the op's caller: call it from the user's line.
            location, call = frames.op_site(user_frame)
            # Which expression of the line (records.Call.site): the instruction that
            # called the op, in library code that ran it (~: negative) where not the user's.
            site: int | None = (
                user_frame.f_lasti if user_frame is caller else ~caller.f_lasti if caller is not None else None
            )
        else:
            location, call, site = None, _call, None
        if outside:  # (the common case, in a pass, tests one flag)
            if outside == "loss":
                return recorder.run_window_op(described, location, call, func, args, kwargs, changes, site)
            return recorder.run_op_aside(user_frame, described, location, call, func, args, kwargs, changes, site)
        return recorder.run_op(described, location, call, func, args, kwargs, changes, site)


def _unrecorded(
    frame: FrameType, func: Callable, args: tuple, kwargs: dict, changing: RecordingState | None = None
) -> Any:
    """Run an op the mode does not record as if from the line that called it
    (``frame``: the frame that called the mode), as ``run_op`` runs a recorded one: a
    warning PyTorch's C++ raises (``float(t)`` of a tensor requiring grad,
    ``torch.tensor(t)``, ``.grad`` of a non-leaf) names the Python frame running when
    it fires, and called from here that was the mode's handler, which moved it to
    shapetrace's file: its location, the filters by module and line, and the "once
    per location" registry. ``changing``: the recorder, where the op changes its
    tensors' metadata in place (metadata read before it is not reused after it:
    core/meta_table.py)."""
    __tracebackhide__ = True
    caller = frames.op_caller(frame)
    call = _call if caller is None else frames.op_site(caller)[1]
    if changing is None:
        return call(func, args, kwargs)
    try:
        return call(func, args, kwargs)
    finally:
        changing._table.changed()


def _call(func: Callable, args: tuple, kwargs: dict) -> Any:
    return func(*args, **kwargs)


frames.add_transparent(OpMode.__torch_function__.__code__)
frames.add_transparent(_unrecorded.__code__)


def pop_if_on_top(mode: TorchFunctionMode) -> bool:
    """Take ``mode`` off the stack if it is the innermost torch function mode;
    whether it was. The top is popped and compared, and pushed back at once
    when it is another mode: on an idle machine reading the top in place costs
    about 0.26 us and a pop about 0.1 us (a small saving; the recorder asks
    around each module call)."""
    if torch_function_mode_count() == 0:
        return False
    top = pop_torch_function_mode()
    if top is mode:
        return True
    push_torch_function_mode(top)
    return False


def remove_mode(mode: TorchFunctionMode) -> None:
    """Take ``mode`` off the stack, leaving the modes pushed above it in place."""
    above = []
    while torch_function_mode_count() > 0:
        popped = pop_torch_function_mode()
        if popped is mode:
            break
        above.append(popped)
    for popped in reversed(above):
        push_torch_function_mode(popped)
