"""Which module's method made a module call, found through the user's frames.

The recorder names a module it did not know when recording began from the module
whose method called it (its ``self``): a part of that module run through
``self.forward(x)`` (``calling_owner``), a submodule registered in the forward
(``self.fc = nn.Linear(...)``), or a layer the caller keeps where ``nn.Module``
registers nothing (``caller_label``).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import FrameType

from torch import nn

from shapetrace.record.frames import first_user_frame
from shapetrace.record.module_info import held_in

_OWNER_DEPTH = 8  # user frames searched for the module whose method made a call


def _owners_up(call_frame: FrameType | None) -> Iterator[tuple[nn.Module, FrameType]]:
    """``(module, frame)`` for each of the first user frames above ``call_frame`` that
    runs a method of an ``nn.Module`` (its ``self``), nearest first."""
    frame = first_user_frame(call_frame)
    for _ in range(_OWNER_DEPTH):
        if frame is None:
            return
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            owner = frame.f_locals.get("self")
            if isinstance(owner, nn.Module):
                yield owner, frame
        frame = first_user_frame(frame.f_back)


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


def caller_label(module: nn.Module, call_frame: FrameType | None) -> tuple[str, bool]:
    """``(label, registered)`` of a module called inside a recorded call that was not
    among the model's submodules when recording began: the attribute its caller
    registered it under since (``fc``, True), or, unregistered (False), where the
    caller keeps it (``<layers[0]>``: ``module_info.held_in``) or its class
    (``<Linear>``: built in the forward, or held elsewhere)."""
    caller = next((owner for owner, _ in _owners_up(call_frame) if owner is not module), None)
    if caller is None:
        return f"<{type(module).__name__}>", False
    for name, child in caller.named_children():
        if child is module:
            return name, True
    return f"<{held_in(caller, module) or type(module).__name__}>", False
