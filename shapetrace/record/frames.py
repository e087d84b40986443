"""Attributing calls to the user's source line.

The user's line is the first frame outside torch and shapetrace. Frames are
classified once per code object and locations cached per (code, line): the
recorder asks on every event.

The caches are keyed by ``id(code)``, not by the code object: hashing a code
object hashes its bytecode and constants (0.6 us for torch's
``Module._call_impl``), and a module call walks ~8 such frames. Each code
object seen is kept alive in ``_codes`` so that its id is never reused.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import linecache
import os
import runpy
import shutil
import sys
from collections.abc import Callable
from types import CodeType, FrameType, FunctionType, TracebackType
from typing import Any

import torch
import torch.nn.utils.rnn
import torch.overrides
from torch import nn

from shapetrace.core.records import Location
from shapetrace.core.torch_private import DISPATCH_WRAPPER_FILE, HOOKED_CALL_CODE, has_hooks

_INTERNAL_PREFIXES = (
    os.path.dirname(torch.__file__) + os.sep,
    os.path.dirname(os.path.dirname(__file__)) + os.sep,  # the whole shapetrace package
)
# What launches the command (its console script, `python -m` through runpy) is
# not the user's line; a traced script's own frames lie below these.
# The console script run by path (`.venv/bin/shapetrace run x.py`, not on PATH) is
# the program, as given and absolute: read here, before `run` hands argv to the script.
_SCRIPT = sys.argv[0] if sys.argv and os.path.basename(sys.argv[0]) in ("shapetrace", "shapetrace.exe") else ""
_LAUNCHERS = frozenset(
    path
    for path in (
        shutil.which("shapetrace"),
        runpy.__file__,
        "<frozen runpy>",
        _SCRIPT,
        _SCRIPT and os.path.abspath(_SCRIPT),
    )
    if path
)
_HANDLE_TORCH_FUNCTION = torch.overrides.handle_torch_function.__code__
_DISPATCH_WRAPPER_FILE = DISPATCH_WRAPPER_FILE

_codes: dict[int, CodeType] = {}
_internal: dict[int, bool] = {}
# Code that forwards an op without being its caller: shapetrace's own op
# handler, seen by an outer trace when traces nest.
_transparent: set[int] = set()
_locations: dict[tuple[int, int], Location] = {}
_distinct_locations: dict[Location, Location] = {}
_calls_from: dict[tuple[int, int], Callable[[Callable, tuple, dict], Any]] = {}
_definitions: dict[object, Location | None] = {}
_sites: dict[tuple[int, int], tuple[Location | None, Callable[[Callable, tuple, dict], Any]]] = {}
# The code of every function call_from makes, placed at a user's line.
_CALL_CODE = next(
    const
    for const in compile(
        "def call(func, args, kwargs): __tracebackhide__ = True; return func(*args, **kwargs)", "<shapetrace>", "exec"
    ).co_consts
    if isinstance(const, CodeType)
)
_CALL_NAME = "<shapetrace op>"

# torch.nn.utils.rnn's functions are Python code around one primitive each:
# recorded at the user's line under the function's name, with the
# index_select that sorts a batch by length, they carry the lineage through.
_PACKING_FUNCTIONS = ("pack_padded_sequence", "pad_packed_sequence", "pad_sequence")
_PACKING_PRIMITIVES = frozenset({"_pack_padded_sequence", "_pad_packed_sequence", "pad_sequence"})
_packing: dict[int, str] = {}


def _keep(code: CodeType) -> int:
    key = id(code)
    _codes[key] = code
    return key


def packing_op(caller: FrameType | None, name: str) -> tuple[str, str] | None:
    """``(name, type)`` to record an op that a packing function of
    ``torch.nn.utils.rnn`` (``caller``) runs; None for its other ops."""
    function = _packing.get(id(caller.f_code)) if caller is not None else None
    if function is None:
        return None
    if name in _PACKING_PRIMITIVES:
        return function, f"torch.nn.utils.rnn.{function}"
    return ("index_select", "Tensor.index_select") if name == "index_select" else None


def add_transparent(code: CodeType) -> None:
    """Treat frames running ``code`` as if they were not there (see ``op_caller``)."""
    _transparent.add(_keep(code))


for _function in _PACKING_FUNCTIONS:
    _packing[_keep(getattr(torch.nn.utils.rnn, _function).__code__)] = _function
# ``q, k, v = qkv``: Tensor.__iter__ skips torch function dispatch and returns
# ``iter(self.unbind(0))`` (torch/_tensor.py); the op mode takes that unbind for the user's
# line's op (op_mode.py), so the pieces keep their axes' lineage.
ITER_CODE = torch.Tensor.__iter__.__code__


def is_internal(code: CodeType) -> bool:
    """True for code in torch or shapetrace (cached per code object)."""
    internal = _internal.get(id(code))
    if internal is None:
        internal = _internal[_keep(code)] = (
            code.co_filename.startswith(_INTERNAL_PREFIXES) or code.co_filename in _LAUNCHERS
        )
    return internal


def internal_cache() -> dict[int, bool]:
    """The cache behind ``is_internal`` (by ``id(code)``), for hot loops to read inline;
    a miss must go through ``is_internal``."""
    return _internal


def first_user_frame(frame: FrameType | None) -> FrameType | None:
    # Called for every event: the cache is read inline (a function call per
    # frame would double the cost of the walk).
    internal = _internal
    helper = _helper
    while frame is not None:
        code = frame.f_code
        flag = internal.get(id(code))
        if flag is None:
            flag = is_internal(code)
        if not flag:
            in_helper = helper.get(id(code))
            if not (is_helper(code) if in_helper is None else in_helper):
                return frame
        frame = frame.f_back
    return None


def _package_dirs(names: tuple[str, ...]) -> tuple[str, ...]:
    """The folders of the installed packages ``names`` (none imported to find them)."""
    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
            found.append(os.path.join(folder, ""))
    return tuple(found)


# Libraries of tensor helpers that the user's line calls for one op's worth of work
# (einops' rearrange runs reshape, permute, reshape): their ops are recorded, at the
# user's line that called the helper, not at the library's line.
_HELPER_PREFIXES = _package_dirs(("einops",))
_helper: dict[int, bool] = {}


def is_helper(code: CodeType) -> bool:
    """True for code in a tensor-helper library (``_HELPER_PREFIXES``; cached per code object)."""
    helper = _helper.get(id(code))
    if helper is None:
        helper = _helper[_keep(code)] = bool(_HELPER_PREFIXES) and code.co_filename.startswith(_HELPER_PREFIXES)
    return helper


def helper_cache() -> dict[int, bool]:
    """The cache behind ``is_helper`` (by ``id(code)``), for the op mode to read inline."""
    return _helper


def user_frame_within(frame: FrameType | None, outer: FrameType) -> tuple[FrameType | None, bool]:
    """The first user frame from ``frame`` up, and whether ``outer`` (the
    frame of an enclosing call) lies on the way.

    ``(None, True)`` when ``outer`` comes first: library code inside the
    enclosing call made this one (``nn.Sequential``), so both were made at
    the same user line; the walk stops there instead of going on through
    the enclosing call's frames. ``(frame, False)`` means ``outer`` has
    returned, without its hooks.
    """
    internal = _internal
    user = None
    while frame is not None:
        if frame is outer:
            return user, True
        if user is None:
            code = frame.f_code
            flag = internal.get(id(code))
            if flag is None:
                flag = is_internal(code)
            if not flag:
                user = frame
        frame = frame.f_back
    return user, False


def op_caller(frame: FrameType | None) -> FrameType | None:
    """The frame that called an op, given the frame that called the mode.

    Ops written in Python (``F.relu``, ``Tensor.split``) reach the mode
    through ``handle_torch_function`` from inside their own body; the caller
    is the frame above that body (and above ``boolean_dispatch`` wrappers).
    """
    while frame is not None:
        code = frame.f_code
        if id(code) in _transparent:
            frame = frame.f_back
        elif code is _HANDLE_TORCH_FUNCTION:
            frame = frame.f_back  # the op's own Python body
            frame = frame.f_back if frame is not None else None
            while frame is not None and frame.f_code.co_filename == _DISPATCH_WRAPPER_FILE:
                frame = frame.f_back
        else:
            return frame
    return None


def location_of(frame: FrameType | None) -> Location | None:
    """The frame's current line; equal locations are one object (callers key by id).

    Cached by (code, last instruction): ``f_lasti`` is a field, where
    ``f_lineno`` decodes the code's line table up to that instruction on
    every read (the longer the function, the dearer: Hugging Face's forwards
    are hundreds of lines).
    """
    if frame is None:
        return None
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    location = _locations.get(key)
    if location is None:
        _keep(code)
        lineno = frame.f_lineno
        text = linecache.getline(code.co_filename, lineno).strip()
        location = Location(code.co_filename, lineno, text, code.co_name)
        location = _locations[key] = _distinct_locations.setdefault(location, location)
    return location


def op_site(frame: FrameType) -> tuple[Location | None, Callable[[Callable, tuple, dict], Any]]:
    """``(location_of(frame), call_from(frame))``: what an op called at the
    frame's current instruction needs, in one lookup by (code, instruction)."""
    key = (id(frame.f_code), frame.f_lasti)
    site = _sites.get(key)
    if site is None:
        site = _sites[key] = (location_of(frame), call_from(frame))  # (they keep the code alive)
    return site


def call_from(frame: FrameType) -> Callable[[Callable, tuple, dict], Any]:
    """A function ``call(func, args, kwargs)`` that runs as if at ``frame``'s line.

    A warning names the frame that calls the op (PyTorch's C++ warnings) or
    the one above the op's Python body (``stacklevel=2``): under the op mode
    that is the mode's handler. Called through this function, that frame
    has the user's file, line and module globals, so warning filters,
    "once" registries and the "error" action work as they do untraced, for
    one Python call per op (catching and re-issuing each op's warnings cost
    1.8 us). The function is made once per line and is itself transparent.
    """
    code, lineno = frame.f_code, frame.f_lineno
    key = (id(code), lineno)
    call = _calls_from.get(key)
    if call is None:
        _keep(code)
        placed = _CALL_CODE.replace(co_filename=code.co_filename, co_firstlineno=lineno, co_name=_CALL_NAME)
        if sys.version_info >= (3, 11):
            placed = placed.replace(co_qualname=_CALL_NAME)
        _internal[_keep(placed)] = True
        _transparent.add(id(placed))
        call = _calls_from[key] = FunctionType(placed, frame.f_globals, _CALL_NAME)
    return call


_RECORD_PREFIX = os.path.dirname(__file__) + os.sep


def _is_recording_code(code: CodeType) -> bool:
    """The recorder's own frames: its op handler, hooks, and the functions
    ``call_from`` places at a user's line."""
    return code.co_name == _CALL_NAME or code.co_filename.startswith(_RECORD_PREFIX)


_HANDLE_TORCH_FUNCTION = torch.overrides.handle_torch_function.__code__


def _is_hook_path_only(frame: FrameType) -> bool:
    """``Module._call_impl``'s ``inner()``, run only because the recorder's
    hooks were on: once they are off, the module has no hook of its own, so
    untraced it takes the fast path, which has no such frame."""
    if frame.f_code is not HOOKED_CALL_CODE:
        return False
    module = frame.f_locals.get("self")
    return isinstance(module, nn.Module) and not has_hooks(module)


def _without_redispatch(kept: list[TracebackType]) -> list[TracebackType]:
    """``kept`` without the detour the op mode makes a Python-level torch
    function take: ``Tensor.split`` calls ``handle_torch_function``, whose mode
    (the recorder's, unlinked already) runs ``Tensor.split`` again. Untraced,
    the traceback holds that function once, so its first frame and
    ``handle_torch_function``'s go."""
    dropped: set[int] = set()
    for i in range(1, len(kept) - 1):
        if kept[i].tb_frame.f_code is _HANDLE_TORCH_FUNCTION and (
            kept[i - 1].tb_frame.f_code is kept[i + 1].tb_frame.f_code
        ):
            dropped |= {i - 1, i}
    return [tb for i, tb in enumerate(kept) if i not in dropped]


def strip_recording_frames(exc: BaseException) -> None:
    """Unlink the recorder's frames from an exception's traceback (and from
    those of the exceptions it chains), so that a user's error shows the
    frames ``python script.py`` shows: no op handler, no ``<shapetrace op>``,
    no DataLoader watch (``data_hook.py``), no ``inner()`` of PyTorch's hook
    path where the module has no hook of the user's, no second run of a
    Python-level torch function through ``handle_torch_function``. The one traceback splice of the
    package: a traced block's exit and the data hook both use it.
    Never raises: the user's error must come through."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        pending += [error.__cause__, error.__context__]
        try:
            kept = []
            tb = error.__traceback__
            while tb is not None:
                if not _is_recording_code(tb.tb_frame.f_code) and not _is_hook_path_only(tb.tb_frame):
                    kept.append(tb)
                tb = tb.tb_next
            kept = _without_redispatch(kept)
            for outer, inner in itertools.pairwise(kept):
                if outer.tb_next is not inner:
                    outer.tb_next = inner
            if kept and kept[-1].tb_next is not None:
                kept[-1].tb_next = None
            if error.__traceback__ is not (kept[0] if kept else None):
                error.__traceback__ = kept[0] if kept else None
        except (AttributeError, TypeError, ValueError):  # a traceback we cannot relink: leave it
            continue


def caller_location(frame: FrameType | None) -> Location | None:
    """The user's line that called the function ``frame`` runs (``init_hidden(BATCH)``
    in a training loop, for an op in ``init_hidden``'s body); None at a module's
    top level, which no line of the user's called."""
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return location_of(first_user_frame(frame.f_back))


def user_location(depth: int = 1) -> Location | None:
    """Location of the first user frame above the caller's ``depth``-th frame."""
    return location_of(first_user_frame(sys._getframe(depth + 1)))


def unwrapped(function: object) -> object:
    """The function a ``functools.wraps`` chain wraps (``__wrapped__``), or ``function`` itself.

    Hugging Face decorates every ``forward`` (``can_return_tuple``, ``check_model_inputs``...),
    ``torch.no_grad()`` a user's; the code that matters is the innermost function's.
    """
    try:
        return inspect.unwrap(function)  # type: ignore[arg-type]
    except ValueError:  # a __wrapped__ cycle
        return function


def definition_of(function: object) -> Location | None:
    """Where a function (a module's ``forward``) is defined: the innermost one of a
    decorated function (see ``unwrapped``).

    Cached per function (functions hash by identity): each module of a model
    asks once per trace, and unwrapping Hugging Face's decorators took ~2 us.
    """
    try:
        return _definitions[function]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable
        return _definition(function)
    found = _definitions[function] = _definition(function)
    return found


def _definition(function: object) -> Location | None:
    code = getattr(unwrapped(function), "__code__", None)
    if not isinstance(code, CodeType):
        return None
    return Location(code.co_filename, code.co_firstlineno, "", code.co_name)
