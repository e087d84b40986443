"""Which module's method made a module call, found through the user's frames.

The recorder names a module it did not know when recording began from the module
whose method called it (its ``self``): a part of that module run through
``self.forward(x)`` (``calling_owner``), a submodule registered in the forward
(``self.fc = nn.Linear(...)``), or a layer the caller keeps where ``nn.Module``
registers nothing (``caller_label``).
"""

from __future__ import annotations

import ast
import itertools
import linecache
from collections.abc import Iterator
from types import FrameType
from typing import NamedTuple

from torch import nn

from shapetrace.record.frames import first_user_frame
from shapetrace.record.module_info import ModuleInfo, module_info

_OWNER_DEPTH = 8  # user frames searched for the module whose method made a call


def _owners_up(call_frame: FrameType | None) -> Iterator[tuple[nn.Module, FrameType]]:
    """``(module, frame)`` for each of the first user frames above ``call_frame`` that
    runs a method of an ``nn.Module`` (its ``self``), nearest first."""
    frame = first_user_frame(call_frame)
    for _ in range(_OWNER_DEPTH):
        if frame is None:
            return
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self" and _may_run_on_a_module(frame):
            owner = frame.f_locals.get("self")
            if isinstance(owner, nn.Module):
                yield owner, frame
        frame = first_user_frame(frame.f_back)


def _may_run_on_a_module(frame: FrameType) -> bool:
    """Whether the method ``frame`` runs may have an ``nn.Module`` as ``self``: False
    for a method of a class of the user's that is no module nor a base of one (a
    trainer's ``fit``), found by its qualified name in the frame's globals. Its
    ``f_locals`` is then never read: on Python 3.11 that snapshot keeps the frame's
    locals (the first batch) alive while the training loop runs, and refreshes a
    dict its code holds from ``locals()``."""
    qualname = getattr(frame.f_code, "co_qualname", "")  # Python >= 3.11
    owner: object = None
    path = qualname.split(".")[:-1]
    if path and "<locals>" not in path:
        owner = frame.f_globals.get(path[0])
        for part in path[1:]:
            owner = getattr(owner, part, None)
    if not isinstance(owner, type):
        return True  # unknown: a nested class, or no qualified name
    return issubclass(owner, nn.Module) or any(issubclass(sub, nn.Module) for sub in _subclasses(owner))


def _subclasses(cls: type) -> Iterator[type]:
    subclasses: list[type] = type.__subclasses__(cls)
    for sub in subclasses:
        yield sub
        yield from _subclasses(sub)


def variable_name(module: nn.Module, call_frame: FrameType | None) -> str | None:
    """The name the user's code calls a model by, read from the call's own source: ``D``
    for ``out = D(real)``, ``model`` for ``self.model(x)`` in a trainer of the user's;
    None when the callee is no plain name or attribute (``make_model()(x)``), or the
    user's frame does not call the module itself (a library's trainer does).

    The expression is the one the calling instruction spans (``co_positions``, as
    Python's tracebacks place it). No frame's ``f_locals`` is read: on Python 3.11
    that snapshot keeps every local of the caller (a deleted batch) alive as long
    as the frame runs, which tracing must never do."""
    frame = first_user_frame(call_frame)
    if frame is None or not _calls_module_itself(call_frame, frame):
        return None
    code = frame.f_code
    positions = getattr(code, "co_positions", None)  # Python >= 3.11; before, models keep class names
    if positions is None:
        return None
    position = next(itertools.islice(positions(), frame.f_lasti // 2, None), None)
    if position is None or None in position:
        return None
    first, last, start, end = position  # type: ignore[misc]
    lines = linecache.getlines(code.co_filename)[first - 1 : last]
    if not lines:
        return None
    lines[-1] = lines[-1][:end]  # (columns are UTF-8 byte offsets; names here are ASCII)
    lines[0] = lines[0][start:]
    try:
        expression = ast.parse("".join(lines).strip(), mode="eval").body
    except SyntaxError:
        return None
    callee = expression.func if isinstance(expression, ast.Call) else None
    if isinstance(callee, ast.Name):
        return callee.id if callee.id != "self" else None  # a model calling itself (a library's generate)
    if isinstance(callee, ast.Attribute):
        return callee.attr
    return None


def _calls_module_itself(call_frame: FrameType | None, user_frame: FrameType) -> bool:
    """Whether only ``nn.Module``'s own call frames lie between the module call
    (``call_frame``) and ``user_frame``: the user's line calls the module."""
    frame = call_frame
    if frame is None or frame.f_code.co_filename != _MODULE_FILE:
        return False  # (a frame above a call: the caller of a part's owner, named for it)
    while frame is not None and frame.f_code.co_filename == _MODULE_FILE:
        frame = frame.f_back
    return frame is user_frame


def calling_owner(module: nn.Module, call_frame: FrameType | None) -> nn.Module | None:
    """The module, other than ``module``, whose method called it and which holds it
    as a submodule (``Layer.forward`` run as ``self.forward(x)`` calling ``self.relu``)."""
    for owner, _ in _owners_up(call_frame):
        if owner is not module and any(sub is module for sub in owner.modules()):
            return owner
    return None


def owner_frame(owner: nn.Module, call_frame: FrameType | None) -> FrameType | None:
    """The frame above the one where ``owner``'s method runs: where its own owner may be."""
    for found, frame in _owners_up(call_frame):
        if found is owner:
            return frame.f_back
    return None


_CALL_IMPL_CODE = nn.Module._call_impl.__code__
_MODULE_FILE = _CALL_IMPL_CODE.co_filename


def inside_another_call(call_frame: FrameType) -> bool:
    """Whether a module call (``call_frame``: its ``_call_impl``'s ``inner()``) runs
    inside another module's call: a frame of ``Module._call_impl`` above its own."""
    frame = call_frame.f_back  # its own _call_impl (or, on the error path, above it)
    frame = frame.f_back if frame is not None and frame.f_code is _CALL_IMPL_CODE else frame
    while frame is not None:
        if frame.f_code is _CALL_IMPL_CODE:
            return True
        frame = frame.f_back
    return False


def caller_label(module: nn.Module, call_frame: FrameType | None) -> tuple[str, Holding | None]:
    """How to name a module called inside a recorded call that was not among the
    model's submodules when recording began, and how its caller holds it:

    - ``("fc", None)``: registered by its caller since (``self.fc = nn.Linear(...)``
      run in the forward): a submodule like the others;
    - ``("<adapter>", None)``: passed to the caller's method as an argument, its
      owner's to register;
    - ``("<layers[0]>", holding)``: kept where ``nn.Module`` registers nothing
      (``holding``: see ``Holding``);
    - ``("<Linear>", holding)``: no attribute of its caller holds it (built in the
      forward, or held elsewhere), ``holding.kind`` ``"forward"``;
    - ``("<extra[0]>", None)``: kept so, but registered by the caller deeper down or
      by a module whose call encloses this one (a layer the traced part shares with
      its model).
    """
    found = next(((owner, frame) for owner, frame in _owners_up(call_frame) if owner is not module), None)
    if found is None:
        return f"<{type(module).__name__}>", Holding("forward", "")
    caller, frame = found
    for name, child in caller.named_children():
        if child is module:
            return name, None
    code = frame.f_code
    for name in code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]:
        if frame.f_locals.get(name) is module:
            return f"<{name}>", None
    holding = held_in(caller, module)
    label = f"<{type(module).__name__}>" if holding is None else f"<{holding.place}>"
    if _registered_above(module, call_frame):
        return label, None  # shared: registered by the caller deeper down, or a module around it
    return label, holding or Holding("forward", "")


def _registered_above(module: nn.Module, call_frame: FrameType | None) -> bool:
    """Whether a module running a method up the stack registers ``module`` anywhere
    below it: the caller itself (``self.layers = [self.block.fc]``), or the model of the
    part that is traced (``trace(model.head)`` of a head that reaches the model's
    ``proj`` through a list, or through a closure); it is then in that module's
    ``parameters()``, and its optimizer's."""
    return any(
        owner is not module and any(sub is module for sub in owner.modules()) for owner, _ in _owners_up(call_frame)
    )


class Holding(NamedTuple):
    """How a caller holds a layer it never registered: ``kind`` is ``"list"``,
    ``"tuple"``, ``"dict"``, ``"dict with non-string keys"``, ``"list of lists"``,
    ``"attribute"`` (set through ``__dict__``) or ``"forward"`` (no attribute holds
    it); ``place`` is where (``layers[0]``, ``heads['en']``, ``teacher``)."""

    kind: str
    place: str

    @property
    def attribute(self) -> str:
        """The caller's attribute that holds it (``layers``), or "" (``"forward"``)."""
        return self.place.split("[", 1)[0]


def held_in(owner: nn.Module, module: nn.Module) -> Holding | None:
    """Where ``owner`` keeps ``module`` outside its registered submodules: in a plain
    list, tuple or dict attribute, one list deep in a list (``stages[1][0]``), or as
    an attribute set through ``__dict__``; None when no attribute of ``owner`` holds it.
    Only ``vars(owner)`` is read: nn.Module registers what it assigns in ``_modules``,
    never in a list (PyTorch's ``Module.__setattr__``), so a module found here is one
    it never registered."""
    for attribute, value in vars(owner).items():
        if value is module:
            return Holding("attribute", attribute)
        found = _place_in(value, module)
        if found is None and type(value) in (list, tuple):  # stages of blocks: [[conv, conv], [conv]]
            for index, item in enumerate(value):
                inner = _place_in(item, module)
                if inner is not None:
                    return Holding("list of lists", f"{attribute}[{index}]{inner[1]}")
        if found is not None:
            return Holding(found[0], attribute + found[1])
    return None


def _place_in(value: object, module: nn.Module) -> tuple[str, str] | None:
    """``(kind, "[0]")``: how a plain list, tuple or dict ``value`` holds ``module``."""
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        for index, item in enumerate(value):
            if item is module:
                return type(value).__name__, f"[{index}]"
    elif isinstance(value, dict) and type(value) is dict:
        for key, item in value.items():
            if item is module:
                return ("dict" if type(key) is str else "dict with non-string keys"), f"[{key!r}]"
    return None


def unregistered_info(module: nn.Module, holding: Holding) -> ModuleInfo:
    """``module_info`` of a layer with parameters that the model calls without
    registering it; its config adds ``trainable_params`` (the count of its parameters
    that require grad: ST024 tells a frozen one, kept out of the optimizer on purpose,
    apart), ``held_in`` (``holding.kind``) and ``held_as`` (the caller's attribute)."""
    config, count, defined_at = module_info(module)
    if count:
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        config = {**config, "trainable_params": trainable, "held_in": holding.kind, "held_as": holding.attribute}
    return config, count, defined_at
