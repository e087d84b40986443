"""The only code that touches hooks and torch function modes.

A ``Recorder`` owns the state of one trace: module forward hooks (global
ones, filtered to the model's modules when a model is given: see hooks.py)
and a ``TorchFunctionMode`` for tensor operations. It keeps metadata only,
never a tensor.

The op mode is active only where the user's own code runs. Inside PyTorch's
built-in modules it is popped off the mode stack, because any active torch
function mode disables PyTorch's fast paths (``TransformerEncoderLayer``
inference measured 1.22x slower, results off by ~1e-6). It is popped while
the recorder reads tensor metadata too: each read would go through it.

Every recorded call costs: an event, a lookup of the tensors' metadata
(``MetaTable`` shares equal records), the walk to the user's frame (cached
per code object) and, at the end, a frozen ``Call``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal, Union

import torch
from torch import nn
from torch.jit import ScriptModule
from torch.nn.modules.loss import _Loss

from shapetrace.core.records import Call, Location, link_calls
from shapetrace.core.tensor_meta import MetaTable, TensorMeta, collect_metas, index_path, summarize_arg
from shapetrace.core.torch_facts import KEEP_WITHOUT_OUTPUT
from shapetrace.core.torch_private import CALL_IMPL_NAME, pop_torch_function_mode, push_torch_function_mode
from shapetrace.record import frames
from shapetrace.record.dynamo import skip_in_dynamo
from shapetrace.record.events import Event, error_text, unique_name, unwrapped_name
from shapetrace.record.frames import first_user_frame, location_of
from shapetrace.record.hooks import GlobalHooks, ModuleHooks, kwargs_of_call, needs_own_hooks
from shapetrace.record.module_info import (
    ModuleInfo,
    is_builtin_module,
    module_info,
    parameter_counts,
    records_ops_inside,
)
from shapetrace.record.op_mode import OpMode, mode_on_top, remove_mode

OpsSetting = Union[bool, Literal["all"]]  # noqa: UP007 (a runtime alias on 3.10)
RootFilter = Callable[[nn.Module, tuple, dict], bool]
_get_ident = threading.get_ident
_ScriptModule = ScriptModule
_Tensor = torch.Tensor
_Parameter = nn.Parameter
_PLAIN_ARGS = frozenset({int, bool, str, type(None)})  # summarize_arg returns them as they are


class Recorder:
    """Records module calls and ops into events; ``calls()`` freezes them.

    ``root_filter`` decides, for each top-level module call, whether to record
    it (the script runner records one pass per input signature).
    ``ops_at_top`` says whether ops outside any module are recorded.
    """

    def __init__(
        self,
        model: nn.Module | None,
        ops: OpsSetting = True,
        *,
        root_filter: RootFilter | None = None,
        ops_at_top: bool = True,
    ) -> None:
        self.model = model
        self.ops = ops
        self.thread = _get_ident()
        self.busy = False
        self.ops_wanted = False
        # After a recorded top-level call, until the next one starts, record
        # the functional losses (LOSS_OPS) that ``ops_at_top=False`` would miss.
        self.losses_only = False
        self._root_filter = root_filter
        self._ops_at_top = bool(ops) and ops_at_top
        self._mode = OpMode(self)
        self._mode_pushed = False
        self._events: list[Event] = []
        # Open module calls: (event, ops state before it, its call frame).
        self._stack: list[tuple[Event, bool, FrameType]] = []
        self._suspended: list[FrameType] = []  # call frames of modules outside the model that turned ops off
        self._skipping = 0
        self._names: dict[int, str] = {}
        self._module_info: dict[int, ModuleInfo] = {}
        self._param_counts: dict[int, int] = {}  # of the model's modules, counted as recording starts
        self._counts: dict[str, int] = {}
        self._op_counts: dict[tuple[int, str], int] = {}
        table = MetaTable()
        self._meta_of = table.meta
        self._identities = table.identities  # of the tensors the last _meta_of calls met
        self._module_hooks = ModuleHooks(self._module_pre_hook, self._post_hook)
        self._global_hooks = GlobalHooks(self._global_pre_hook, self._global_post_hook, self._pass_returned)
        # The modules the global hooks record (None: all of them, no model given),
        # and the model's others, hooked one by one.
        self._global_members: set[int] | None = None
        self._own_hooked: set[int] = set()

    # ----------------------------------------------------------- lifecycle
    def start(self) -> None:
        skip_in_dynamo()
        self._global_hooks.attach()
        if self.model is not None:
            self._global_members = set()
            named = list(self.model.named_modules())
            self._param_counts = parameter_counts([module for _, module in named])
            for name, module in named:
                self._names[id(module)] = unwrapped_name(name, self.model)
                if isinstance(module, _ScriptModule):
                    # One opaque call: it runs outside Python, and its class refuses
                    # Python hooks of its own (the global ones see its calls).
                    self._global_members.add(id(module))
                elif needs_own_hooks(module):
                    self._module_hooks.attach(module)
                    self._own_hooked.add(id(module))
                else:
                    self._global_members.add(id(module))
                    self._global_hooks.pass_kwargs(module)
        self._set_ops(self._ops_at_top)

    def stop(self, exc: BaseException | None = None) -> None:
        """Remove every hook and the mode; close calls left open by an error."""
        self._module_hooks.detach()
        self._global_hooks.detach()
        self.ops_wanted = self.losses_only = False
        self._remove_mode()
        while self._stack:  # an exception that skipped the always_call hooks
            event = self._stack.pop()[0]
            if event.error is None:
                event.error = error_text(exc) if exc is not None else "interrupted"
        self._suspended.clear()
        self._names.clear()
        self._module_info.clear()
        self._param_counts.clear()

    def calls(self, *, last: bool = False) -> list[Call]:
        """The calls recorded so far, frozen and linked into a tree.

        ``last``: recording is over, the events are dropped as they are
        frozen, so memory peaks near the trace's size rather than twice it.
        """
        events = self._events
        if last:
            self._events = []
            events.reverse()
            calls = []
            while events:
                calls.append(events.pop().freeze())
        else:
            calls = [event.freeze() for event in events]
        link_calls(calls)
        return calls

    # ---------------------------------------------------------- op mode
    def _set_ops(self, wanted: bool) -> None:
        self.ops_wanted = wanted
        if wanted and not self._mode_pushed:
            push_torch_function_mode(self._mode)
            self._mode_pushed = True
        elif not wanted and self._mode_pushed and mode_on_top(self._mode):
            pop_torch_function_mode()
            self._mode_pushed = False
        # A mode pushed by someone else above ours keeps ours in place: ops
        # are then ignored through ``ops_wanted`` (fast paths stay off).

    def _remove_mode(self) -> None:
        if self._mode_pushed:
            remove_mode(self._mode)
            self._mode_pushed = False

    def _ops_inside(self, module: nn.Module) -> bool:
        if not self.ops:
            return False
        return self.ops == "all" or not is_builtin_module(module) or records_ops_inside(module)

    # ------------------------------------------------------- module hooks
    # Each hook passes on ``call_frame``, the frame of Module._call_impl's
    # inner(), which runs the module's hooks and its forward: it identifies
    # the call on the recorder's stack.
    def _module_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self._enter(module, args, kwargs, sys._getframe(1))

    def _global_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict | None = None) -> None:
        members = self._global_members
        if (
            members is not None
            and id(module) not in members
            and not (not self._stack and isinstance(module, _Loss) and self._adopt(module))
        ):
            if (
                self.ops_wanted
                and self.ops is True
                and id(module) not in self._own_hooked
                and is_builtin_module(module)
                and _get_ident() == self.thread
            ):
                self._suspend_ops(sys._getframe(1))
            return
        if kwargs is None:
            kwargs = kwargs_of_call()
            if self._root_filter is None and _get_ident() == self.thread:
                # Every module is recorded (no model given): pass kwargs from
                # its next call on. (A root filter steps the hooks aside and
                # back under new ids, which would leave stale flags behind.)
                self._global_hooks.pass_kwargs(module)
        self._enter(module, args, kwargs, sys._getframe(1))

    def _adopt(self, module: nn.Module) -> bool:
        """Record a loss module called outside the traced model, as the
        script runner does: the loss that compares the model's output with
        its target belongs to the trace (its error gets the note)."""
        if self.busy or _get_ident() != self.thread or self._global_members is None:
            return False
        self._global_members.add(id(module))
        return True

    def _pass_returned(self) -> None:
        """The top-level call the global hooks stepped aside for has returned."""
        self._skipping = 0

    def _post_hook(self, module: nn.Module, args: tuple, kwargs: dict, result: Any) -> None:
        # On the error path torch calls always_call hooks from _call_impl itself.
        failed = sys._getframe(1).f_code.co_name == CALL_IMPL_NAME
        self._exit(module, result, sys.exc_info()[1] if failed else None)

    def _global_post_hook(self, module: nn.Module, args: tuple, *kwargs_and_result: Any) -> None:
        # (kwargs, result), or (result,) on the error path or a torch without
        # kwargs for global hooks.
        members = self._global_members
        if members is not None and id(module) not in members:
            if self._suspended:
                caller = sys._getframe(1)  # inner(), or _call_impl on the error path
                if caller is self._suspended[-1] or caller is self._suspended[-1].f_back:
                    self._suspended.pop()
                    self._set_ops(True)
            return
        failed = sys._getframe(1).f_code.co_name == CALL_IMPL_NAME
        self._exit(module, kwargs_and_result[-1], sys.exc_info()[1] if failed else None)

    def _enter(self, module: nn.Module, args: tuple, kwargs: dict, call_frame: FrameType) -> None:
        """A module call starts."""
        if self.busy or _get_ident() != self.thread:
            return
        if self._skipping:
            self._skipping += 1
            return
        stack = self._stack
        if stack:
            user_frame, nested = frames.user_frame_within(call_frame, stack[-1][2])
            if not nested:
                self._close_ended_calls(call_frame)
            location = stack[-1][0].location if user_frame is None and stack else location_of(user_frame)
        else:
            if self.losses_only:  # the next pass: the window for its predecessor's loss closes
                self.losses_only = False
                self._set_ops(self._ops_at_top)
            skip_in_dynamo()  # (cheap) a model compiled since the trace began
            if self._suspended:
                self._resume_ended_suspensions(call_frame)
            if self._root_filter is not None and not self._root_filter(module, args, kwargs):
                self._skipping = 1
                if self.model is None:  # no hook is needed below this call: a faster pass
                    self._global_hooks.step_aside(module, call_frame)
                return
            location = location_of(first_user_frame(call_frame))
        ops_outside = ops_inside = self.ops_wanted
        self.busy = True
        self._set_ops(False)  # else each metadata read goes through the op mode: 11 us a tensor, not 2.3
        try:
            event = self._module_event(module, args, kwargs, location)
            self._events.append(event)
            stack.append((event, ops_outside, call_frame))
            ops_inside = self._ops_inside(module)
        finally:
            self._set_ops(ops_inside)
            self.busy = False

    def _module_event(self, module: nn.Module, args: tuple, kwargs: dict, location: Location | None) -> Event:
        stack = self._stack
        parent = stack[-1][0] if stack else None
        module_id = id(module)
        name = self._names.get(module_id)
        if name is None:
            name = self._name_of(module, parent)
        info = self._module_info.get(module_id) or self._info_of(module)
        identities = self._identities
        identities.clear()
        inputs = collect_metas(args, "", None, 0, self._meta_of)
        if kwargs:
            collect_metas(kwargs, "", inputs, 0, self._meta_of)
        index = self._counts.get(name, 0)
        self._counts[name] = index + 1
        return Event(
            len(self._events),
            "module",
            name,
            type(module).__name__,
            tuple(inputs),
            tuple(identities),
            location,
            len(stack),
            index,
            parent.id if parent is not None else None,
            (),
            None,
            info,
            module_id,
        )

    def _exit(self, module: nn.Module, result: Any, exc: BaseException | None) -> None:
        if self.busy or _get_ident() != self.thread:
            return
        if self._skipping:
            self._skipping -= 1
            return
        stack = self._stack
        if not stack:
            return  # a call that began before recording started
        if stack[-1][0].module_id != id(module) and not self._close_calls_above(id(module)):
            return
        event, ops_outside, _ = stack.pop()
        self.busy = True
        self._set_ops(False)
        try:
            if exc is not None:
                event.error = error_text(exc)
            else:
                self._record_outputs(event, result)
            if event.info is not None and event.info[1] is None:  # a lazy module, initialized by now
                event.info = self._module_info[id(module)] = module_info(module)
        finally:
            if not stack and not ops_outside and self.ops and exc is None:
                self.losses_only = ops_outside = True  # the loss of this pass: see __init__
            self._set_ops(ops_outside)
            self.busy = False

    # A built-in module outside the traced model: the op mode is off inside
    # it, as inside the model's own (fast paths), until its call returns.
    def _suspend_ops(self, call_frame: FrameType) -> None:
        self._suspended.append(call_frame)
        self._set_ops(False)

    def _resume_ended_suspensions(self, call_frame: FrameType) -> None:
        """Calls that suspended the op mode and ended without their hooks (see below)."""
        running = _frames_up(call_frame)
        while self._suspended and id(self._suspended[-1]) not in running:
            self._suspended.pop()
            self._set_ops(True)

    # A BaseException that is not an Exception (KeyboardInterrupt) skips the
    # always_call hooks: calls it ended stay on the stack until one of these
    # notices, when a call starts outside them or an enclosing call returns.
    def _close_ended_calls(self, call_frame: FrameType) -> None:
        running = _frames_up(call_frame)
        while self._stack and id(self._stack[-1][2]) not in running:
            self._close_top()

    def _close_calls_above(self, module_id: int) -> bool:
        if not any(entry[0].module_id == module_id for entry in self._stack):
            return False  # a call that began before recording started
        while self._stack[-1][0].module_id != module_id:
            self._close_top()
        return True

    def _close_top(self) -> None:
        event, ops_outside, _ = self._stack.pop()
        if event.error is None:
            event.error = "interrupted"
        self._set_ops(ops_outside)

    def _name_of(self, module: nn.Module, parent: Event | None) -> str:
        name = self._names.get(id(module))
        if name is not None:
            return name
        # Only without a model: name modules as they first run.
        if parent is None:
            name = "" if "" not in self._counts else unique_name(type(module).__name__, self._counts)
            for sub_name, sub in module.named_modules():
                sub_name = unwrapped_name(sub_name, module)
                self._names.setdefault(id(sub), f"{name}.{sub_name}" if name and sub_name else name or sub_name)
            return self._names[id(module)]
        name = f"{parent.name}.<{type(module).__name__}>" if parent.name else f"<{type(module).__name__}>"
        self._names[id(module)] = name
        return name

    def _info_of(self, module: nn.Module) -> ModuleInfo:
        info = self._module_info.get(id(module))
        if info is None:
            info = self._module_info[id(module)] = module_info(module, self._param_counts.get(id(module)))
        return info

    # ---------------------------------------------------------------- ops
    def op_started(self, described: tuple[str, str], location: Location | None, args: tuple, kwargs: dict) -> Event:
        """An op is about to run at ``location``: its event, not yet in the trace."""
        self.busy = True
        try:
            name, op_type = described
            metas: list[TensorMeta] = []
            meta_of = self._meta_of
            self._identities.clear()
            # summarize_arg's first cases inline: nearly every argument is a
            # tensor or a size, and a call per argument cost ~20% of this method.
            summary = []
            for index, arg in enumerate(args):
                kind = type(arg)
                if kind in _PLAIN_ARGS:
                    summary.append(arg)
                elif kind is _Tensor or kind is _Parameter:
                    path = index_path(index)
                    metas.append(meta_of(arg, path))
                    summary.append({"tensor": path})
                else:
                    summary.append(summarize_arg(arg, index_path(index), metas, 0, meta_of))
            kw_summary = {k: summarize_arg(v, k, metas, 0, meta_of) for k, v in kwargs.items()} if kwargs else {}
            parent = self._stack[-1][0] if self._stack else None
            # Equal locations are one object: its id is a key that, unlike
            # the dataclass, needs no hashing of four fields per op.
            key = (id(location), name)
            index = self._op_counts.get(key, 0)
            self._op_counts[key] = index + 1
            return Event(
                -1,
                "op",
                name,
                op_type,
                tuple(metas),
                tuple(self._identities),
                location,
                len(self._stack),
                index,
                parent.id if parent is not None else None,
                tuple(summary),
                kw_summary,
            )
        finally:
            self.busy = False

    def _record_outputs(self, event: Event, result: Any) -> None:
        """The metadata and identities of the tensors in a call's result."""
        identities = self._identities
        identities.clear()
        kind = type(result)
        if kind is _Tensor or kind is _Parameter:  # most ops' result: no walk
            event.outputs = (self._meta_of(result, ""),)
        else:
            event.outputs = tuple(collect_metas(result, "", None, 0, self._meta_of))
        if identities:
            event.tensor_ids = (*event.tensor_ids, *identities)

    def op_finished(self, event: Event, result: Any, exc: BaseException | None) -> None:
        self.busy = True
        try:
            if exc is not None:
                event.error = error_text(exc)
            else:
                self._record_outputs(event, result)
                if not event.outputs and event.name not in KEEP_WITHOUT_OUTPUT:
                    return  # x.tolist(), x.backward(): no tensor, nothing to show
            event.id = len(self._events)
            self._events.append(event)
        finally:
            self.busy = False


def _frames_up(frame: FrameType | None) -> set[int]:
    """Ids of the frames running below ``frame``, itself included (the
    recorder holds the frames it compares with these: their ids are not reused)."""
    running = set()
    while frame is not None:
        running.add(id(frame))
        frame = frame.f_back
    return running
