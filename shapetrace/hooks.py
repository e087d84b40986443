"""Module forward hooks for the recorder, registered and removed cheaply.

Part of the recorder (no other code touches hooks): ``ModuleHooks`` hooks
every module of a model, ``GlobalHooks`` every module call of the process,
with a way to step aside for a top-level call that is not recorded.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from torch import nn
from torch.nn.modules import module as torch_module
from torch.utils.hooks import RemovableHandle

PreHook = Callable[..., None]
PostHook = Callable[..., None]

# The dicts ``register_forward_pre_hook(with_kwargs=True)`` and
# ``register_forward_hook(with_kwargs=True, always_call=True)`` fill.
_PRE_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")
_POST_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")
_HAS_HOOK_DICTS = all(hasattr(nn.Module(), name) for name in (*_PRE_DICTS, *_POST_DICTS))
_plain_registration: dict[type, bool] = {}


def _registers_plainly(kind: type) -> bool:
    """True when a module class keeps nn.Module's hook registration (cached per class)."""
    plain = _plain_registration.get(kind)
    if plain is None:
        plain = _plain_registration[kind] = _HAS_HOOK_DICTS and (
            kind.register_forward_pre_hook is nn.Module.register_forward_pre_hook
            and kind.register_forward_hook is nn.Module.register_forward_hook)
    return plain


def _reserve_hook_id() -> int:
    """A hook id no RemovableHandle will take, drawn as RemovableHandle does."""
    hook_id = RemovableHandle.next_id
    RemovableHandle.next_id += 1
    return hook_id


class ModuleHooks:
    """A pre-hook and an always-called post-hook, both with kwargs, on many modules.

    ``register_forward_*_hook`` makes a RemovableHandle per hook (weakrefs, a
    tuple, a bound method): 3 us and ~6 objects for the garbage collector per
    hook. For a 4,000-module model that was 24 ms per trace, as much as its
    forward, plus a full collection of the heap (~100 ms) set off by the
    allocations. The hooks are instead entered in each module's hook dicts
    under two ids reserved once, exactly where and in the order those methods
    put them; a class that overrides registration (a ScriptModule) gets the
    public path.
    """

    def __init__(self, pre_hook: PreHook, post_hook: PostHook) -> None:
        self._pre_hook, self._post_hook = pre_hook, post_hook
        self._pre_id, self._post_id = _reserve_hook_id(), _reserve_hook_id()
        self._modules: list[nn.Module] = []
        self._handles: list[RemovableHandle] = []

    def attach(self, module: nn.Module) -> None:
        if not _registers_plainly(type(module)):
            self._handles.append(module.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post_hook, with_kwargs=True, always_call=True))
            return
        pre_id, post_id = self._pre_id, self._post_id
        module._forward_pre_hooks[pre_id] = self._pre_hook
        module._forward_pre_hooks_with_kwargs[pre_id] = True
        module._forward_hooks[post_id] = self._post_hook
        module._forward_hooks_with_kwargs[post_id] = True
        module._forward_hooks_always_called[post_id] = True
        self._modules.append(module)

    def detach(self) -> None:
        for module in self._modules:
            for name in _PRE_DICTS:
                getattr(module, name).pop(self._pre_id, None)
            for name in _POST_DICTS:
                getattr(module, name).pop(self._post_id, None)
        self._modules.clear()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class GlobalHooks:
    """A pre-hook and an always-called post-hook on every module call.

    Any global hook sends every module call of the process through the slow
    path of ``Module._call_impl`` (3.6 us a call). A top-level call that is
    not recorded (the script runner's later passes) needs no hook below it:
    ``step_aside`` takes the global hooks off for the rest of that call and a
    forward hook on its module puts them back when it returns, so such a
    pass costs a few microseconds whatever the model's size.
    """

    def __init__(self, pre_hook: Callable[[nn.Module, tuple], None],
                 post_hook: Callable[[nn.Module, tuple, Any], None],
                 on_return: Callable[[], None]) -> None:
        self._pre_hook, self._post_hook, self._on_return = pre_hook, post_hook, on_return
        self._handles: list[RemovableHandle] = []
        self._returns: dict[int, RemovableHandle] = {}  # per module stepped aside for
        self._aside_call: int | None = None  # id of the _call_impl frame of that call
        self._thread = threading.get_ident()

    def attach(self) -> None:
        self._handles = [
            torch_module.register_module_forward_pre_hook(self._pre_hook),
            torch_module.register_module_forward_hook(self._post_hook, always_call=True),
        ]

    def detach(self) -> None:
        for handle in (*self._handles, *self._returns.values()):
            handle.remove()
        self._handles.clear()
        self._returns.clear()
        self._aside_call = None

    def step_aside(self, module: nn.Module, inner_frame: FrameType) -> None:
        """Remove the global hooks until ``module``'s call (run by ``inner_frame``) returns."""
        if not self._alone():
            return  # another global hook keeps the slow path anyway
        if id(module) not in self._returns:
            self._returns[id(module)] = module.register_forward_hook(self._returned, always_call=True)
        for handle in self._handles:
            handle.remove()
        call_frame = inner_frame.f_back  # _call_impl, which runs the always_call hooks on an error
        self._aside_call = id(call_frame) if call_frame is not None else id(inner_frame)

    def _alone(self) -> bool:
        """Whether ours are the only global forward hooks: any other keeps the
        slow path, and taking ours off and back would reorder them."""
        pre, post = self._handles
        return (list(torch_module._global_forward_pre_hooks) == [pre.id]
                and list(torch_module._global_forward_hooks) == [post.id])

    def _returned(self, module: nn.Module, args: tuple, result: Any) -> None:
        if self._aside_call is None or threading.get_ident() != self._thread:
            return
        caller = sys._getframe(1)  # inner() of _call_impl, or _call_impl itself on an error
        if id(caller) == self._aside_call or id(caller.f_back) == self._aside_call or not self._on_stack(caller):
            self._aside_call = None
            self.attach()
            self._on_return()
        # else: the same module called inside the call stepped aside for

    def _on_stack(self, frame: FrameType | None) -> bool:
        """Whether the stepped-aside call still runs (it may have ended by a BaseException)."""
        while frame is not None:
            if id(frame) == self._aside_call:
                return True
            frame = frame.f_back
        return False
