"""Module forward hooks for the recorder (no other code touches hooks).

The recorder hooks module calls through PyTorch's *global* forward hooks,
for a model's modules too (it filters them by membership), because
per-module hooks cost more and change what PyTorch does:

- ``TransformerEncoderLayer`` takes its fused inference path only when no
  forward hook or pre-hook sits on it or its submodules (``any(len(m.
  _forward_hooks) + len(m._forward_pre_hooks) for m in self.modules())``).
- A RemovableHandle per hook (weakrefs, a tuple, a bound method) cost 3 us
  and ~6 objects for the collector: for a 4,000-module model, 24 ms per
  trace (as much as its forward) and a full collection of the heap.

A module that already has forward hooks when recording starts gets per-module
hooks instead, registered after them, so that the recorder still sees what
those hooks did to the arguments (and a lazy module's initialised weights);
so does a module whose class registers hooks its own way.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from operator import attrgetter
from types import FrameType
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

from shapetrace.core.torch_private import torch_module_globals as torch_module
from shapetrace.record.invisible import DictSet, hide_handle, hide_in, hide_keys, remove_handle, unhide_in, unhide_keys

# Global forward hooks take kwargs since torch 2.? (2.13 has them).
_GLOBAL_KWARGS = "with_kwargs" in inspect.signature(torch_module.register_module_forward_hook).parameters


# What torch.compile(module) asks before it warns of global hooks, and the
# registries it reads (keyed by hook id).
_ANY_GLOBAL_HOOK = "_has_any_global_hook"
_GLOBAL_HOOK_DICTS = (
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
    "_global_forward_pre_hooks",
    "_global_forward_hooks",
    "_global_forward_hooks_always_called",
    "_global_forward_hooks_with_kwargs",
)

_plain_registration: dict[type[nn.Module], bool] = {}
_kwargs_flags = attrgetter("_forward_pre_hooks_with_kwargs")


def needs_own_hooks(module: nn.Module) -> bool:
    """Whether a model's module is hooked on its own, not through the global hooks:
    when it has forward hooks already (ours must run after them) or its class
    changes how hooks are registered (a ScriptModule refuses them)."""
    return bool(module._forward_hooks or module._forward_pre_hooks) or not _registers_plainly(type(module))


def _registers_plainly(kind: type[nn.Module]) -> bool:
    plain = _plain_registration.get(kind)
    if plain is None:
        plain = _plain_registration[kind] = (
            kind.register_forward_pre_hook is nn.Module.register_forward_pre_hook
            and kind.register_forward_hook is nn.Module.register_forward_hook
        )
    return plain


class ModuleHooks:
    """A pre-hook and an always-called post-hook, both with kwargs, on some modules."""

    def __init__(self, pre_hook: Callable[..., None], post_hook: Callable[..., None]) -> None:
        self._pre_hook, self._post_hook = pre_hook, post_hook
        self._handles: list[RemovableHandle] = []

    def attach(self, module: nn.Module) -> None:
        for handle in (
            module.register_forward_pre_hook(self._pre_hook, with_kwargs=True),
            module.register_forward_hook(self._post_hook, with_kwargs=True, always_call=True),
        ):
            self._handles.append(handle)
            hide_handle(handle)  # a copy or pickle of the module made while tracing must not carry it

    def detach(self) -> None:
        for handle in self._handles:
            remove_handle(handle)
        self._handles.clear()


class GlobalHooks:
    """A pre-hook and an always-called post-hook on every module call.

    PyTorch calls a global pre-hook without the call's kwargs, unless the
    module's ``_forward_pre_hooks_with_kwargs`` holds the hook's id (the test
    in ``Module._call_impl`` reads the module's dict for global hooks too):
    ``pass_kwargs`` puts it there. A module not told so is answered from the
    caller's frame (``kwargs_of_call``), 5 us instead of nothing.

    Any global hook sends every module call of the process through the slow
    path of ``Module._call_impl`` (3.6 us a call). A top-level call that is
    not recorded (the script runner's later passes) needs no hook below it:
    ``step_aside`` takes the global hooks off for the rest of that call and a
    forward hook on its module puts them back when it returns, so such a pass
    costs a few microseconds whatever the size of the model. That forward hook
    is on the module only while the call runs (a model saved, copied or
    compiled between passes has nothing of shapetrace's on it), and hidden
    from pickling and copying while it is (invisible.py).
    """

    def __init__(
        self, pre_hook: Callable[..., None], post_hook: Callable[..., None], on_return: Callable[[nn.Module, Any], None]
    ) -> None:
        self._pre_hook, self._post_hook, self._on_return = pre_hook, post_hook, on_return
        self._handles: list[RemovableHandle] = []
        self._kwargs_flags: list[tuple[dict, int]] = []  # (a module's with_kwargs dict, our id in it)
        # The same, for a whole model's modules at once: their dicts, and the token hiding our id in them.
        self._model_flags: list[dict] = []
        self._model_token: tuple[DictSet, Hashable] | None = None
        # Per module stepped aside for, while its call runs: the forward hook that notices its return.
        self._returns: dict[int, tuple[weakref.ref[nn.Module], RemovableHandle]] = {}
        self._aside_call: int | None = None  # id of the _call_impl frame of that call
        self._thread = threading.get_ident()
        self._torch_asks: Callable[[], Any] | None = None  # PyTorch's _has_any_global_hook, while ours stands in

    def attach(self) -> None:
        options = {"with_kwargs": True} if _GLOBAL_KWARGS else {}
        self._handles = [
            torch_module.register_module_forward_pre_hook(self._pre_hook),
            torch_module.register_module_forward_hook(self._post_hook, always_call=True, **options),
        ]
        asks = getattr(torch_module, _ANY_GLOBAL_HOOK, None)
        if asks is not None and asks != self._others_hooked:
            self._torch_asks = asks
            setattr(torch_module, _ANY_GLOBAL_HOOK, self._others_hooked)

    def _others_hooked(self) -> bool:
        """PyTorch's ``_has_any_global_hook``, blind to ours. Its one caller,
        ``torch.compile(module)``'s wrapper, warns on every call when a global
        hook is registered: not when the user's program registered none."""
        if self._torch_asks is None or not self._torch_asks():
            return False
        ours = {handle.id for handle in self._handles}
        return any(key not in ours for name in _GLOBAL_HOOK_DICTS for key in getattr(torch_module, name, ()))

    def detach(self) -> None:
        self._remove_globals()
        if self._torch_asks is not None and getattr(torch_module, _ANY_GLOBAL_HOOK, None) == self._others_hooked:
            setattr(torch_module, _ANY_GLOBAL_HOOK, self._torch_asks)
        self._torch_asks = None
        for _, handle in self._returns.values():
            remove_handle(handle)
        if self._kwargs_flags:
            for flags, hook_id in self._kwargs_flags:
                flags.pop(hook_id, None)
            unhide_keys(self._kwargs_flags)
        if self._model_token is not None:
            model_id = self._model_token[1]
            for flags in self._model_flags:
                flags.pop(model_id, None)
            unhide_in(self._model_token)
            self._model_token = None
            self._model_flags = []
        self._handles.clear()
        self._returns.clear()
        self._kwargs_flags.clear()
        self._aside_call = None

    def pass_kwargs(self, modules: Iterable[nn.Module]) -> None:
        """From their next call on, the pre-hook gets ``modules``' kwargs (all
        of a model's as a trace starts: their flags are hidden in one go)."""
        if not self._handles:
            return
        hook_id = self._handles[0].id
        added = []
        for module in modules:
            flags = getattr(module, "_forward_pre_hooks_with_kwargs", None)
            if isinstance(flags, dict):
                flags[hook_id] = True
                added.append((flags, hook_id))
        hide_keys(added)
        self._kwargs_flags += added

    def pass_model_kwargs(self, modules: list[nn.Module], known: DictSet | None) -> DictSet | None:
        """``pass_kwargs`` for all of a model's modules, hidden in one go;
        ``known``: the flag dicts of the last trace of that model. Returns
        the dicts to use for its next trace (None if they cannot be)."""
        if not self._handles or self._model_token is not None:
            self.pass_kwargs(modules)
            return None
        try:
            dicts = list(map(_kwargs_flags, modules))
        except AttributeError:  # a module whose __init__ never ran
            dicts = []
        # The dicts of the model's last trace are the same objects, of the same class.
        same = known is not None and bool(dicts) and known.holds(dicts)
        if not same and (not dicts or set(map(type, dicts)) != {OrderedDict}):  # (what PyTorch makes)
            self.pass_kwargs(modules)
            return None
        hook_id = self._handles[0].id
        for flags in dicts:
            flags[hook_id] = True
        if known is None or not same:
            known = DictSet(dicts)
        self._model_flags = dicts
        self._model_token = hide_in(known, hook_id)
        return known

    def step_aside(self, module: nn.Module, inner_frame: FrameType) -> None:
        """Remove the global hooks until ``module``'s call (run by ``inner_frame``) returns."""
        if not self._alone():
            return  # another global hook keeps the slow path anyway
        known = self._returns.get(id(module))
        if known is None or known[0]() is not module:  # (an id outlives its module)
            if known is not None:
                remove_handle(known[1])
            handle = module.register_forward_hook(self._returned, always_call=True)
            hide_handle(handle)
            self._returns[id(module)] = (weakref.ref(module), handle)
        self._remove_globals()
        call_frame = inner_frame.f_back  # _call_impl, which runs the always_call hooks on an error
        self._aside_call = id(call_frame) if call_frame is not None else id(inner_frame)

    def _remove_globals(self) -> None:
        for handle in self._handles:
            handle.remove()
            # The handle of a global hook registered with kwargs forgets that
            # flag (torch 2.13): remove it too.
            getattr(torch_module, "_global_forward_hooks_with_kwargs", {}).pop(handle.id, None)
        self._handles = []

    def _alone(self) -> bool:
        """Whether ours are the only global forward hooks: any other keeps the
        slow path, and taking ours off and back would reorder them."""
        if len(self._handles) != 2:
            return False
        pre, post = self._handles
        return list(torch_module._global_forward_pre_hooks) == [pre.id] and list(
            torch_module._global_forward_hooks
        ) == [post.id]

    def _returned(self, module: nn.Module, args: tuple, result: Any) -> None:
        if self._aside_call is None or threading.get_ident() != self._thread:
            return
        caller = sys._getframe(1)  # inner() of _call_impl, or _call_impl itself on an error
        if id(caller) == self._aside_call or id(caller.f_back) == self._aside_call or not self._on_stack(caller):
            self._aside_call = None
            known = self._returns.pop(id(module), None)
            if known is not None:  # off the module before its caller sees the result
                remove_handle(known[1])
            self.attach()
            self._on_return(module, result)
        # else: the same module, called inside the call stepped aside for

    def _on_stack(self, frame: FrameType | None) -> bool:
        """Whether the stepped-aside call still runs (it may have ended by a BaseException)."""
        while frame is not None:
            if id(frame) == self._aside_call:
                return True
            frame = frame.f_back
        return False


def kwargs_of_call() -> dict:
    """The kwargs of the module call whose global pre-hook calls this.

    They are a local of Module._call_impl's inner(), which called the hook:
    reading them builds the frame's locals dict (~5 us).
    """
    kwargs = sys._getframe(2).f_locals.get("kwargs") or {}
    return kwargs if isinstance(kwargs, dict) else {}
