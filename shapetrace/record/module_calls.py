"""Module calls: the forward hooks' handlers, which open and close module events.

Each hook passes on ``call_frame``, the frame of ``Module._call_impl``'s
inner(), which runs the module's hooks and its forward: it identifies the
call on the recorder's stack. A module call costs an event, a lookup of its
tensors' metadata (``MetaTable`` shares equal records), the walk to the
user's frame (cached per code object), and its module facts, read once per
trace (``module_info``).
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from torch import nn
from torch.jit import ScriptModule
from torch.nn.modules.loss import _Loss

from shapetrace.core.meta_table import MetaTable
from shapetrace.core.records import Location
from shapetrace.core.tensor_meta import collect_metas, index_path
from shapetrace.core.torch_private import CALL_IMPL_NAME, DisableTorchFunction, torch_function_mode_count
from shapetrace.record import frames
from shapetrace.record.dynamo import skip_in_dynamo
from shapetrace.record.events import Event, error_text, unique_name, unwrapped_name
from shapetrace.record.frames import first_user_frame, location_of
from shapetrace.record.hooks import kwargs_of_call
from shapetrace.record.kept_info import kept_module_info
from shapetrace.record.made_for_pytorch import made_for_pytorch
from shapetrace.record.module_info import ModuleInfo, is_builtin_module, module_info
from shapetrace.record.module_keys import has_no_parameters
from shapetrace.record.module_owners import (
    caller_label,
    calling_owner,
    inside_another_call,
    owner_frame,
    unregistered_info,
    variable_name,
)
from shapetrace.record.recording_state import _TENSORS, RecordingState, _get_ident, tensor_leaves

_ScriptModule = ScriptModule
_single = MetaTable.single
_FIRST_ARG = index_path(0)  # (collect_metas's path of args[0])


class ModuleCalls(RecordingState):
    """The module side of a ``Recorder``: its hooks open and close module events."""

    def _module_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if self._module_keys.freed:
            self._forget_freed()
        self._enter(module, args, kwargs, sys._getframe(1))

    def _global_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict | None = None) -> None:
        if self._module_keys.freed:
            self._forget_freed()
        members = self._global_members
        if (
            members is not None
            and id(module) not in members
            and not (self._adoptable(module, sys._getframe(1)) and self._adopt(module))
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
                self._global_hooks.pass_kwargs((module,))
        self._enter(module, args, kwargs, sys._getframe(1))

    def _adoptable(self, module: nn.Module, call_frame: FrameType) -> bool:
        """Whether a module outside the recorded ones is recorded from this call on
        (``_adopt``), unless it is one of the model's that its own hooks record (it
        has hooks of the user's): inside a recorded call, any; at the top level, a loss,
        a data transform, or a module without parameters called by the user's code
        itself (``nn.Softmax(dim=0)(out)`` on the model's output is recorded as
        ``F.softmax(out, dim=0)`` is; another model, with parameters, is not the one
        traced, nor are the activations it runs)."""
        if id(module) in self._own_hooked:
            return False  # the model's own, recorded by hooks of its own (it has the user's)
        if self._stack:
            return True
        if self.fetching or isinstance(module, _Loss):
            return True
        return has_no_parameters(module) and not inside_another_call(call_frame)

    def _adopt(self, module: nn.Module) -> bool:
        """Record a module that is not the model's, with its submodules, as the
        script runner does: one called inside a recorded call (built in the
        forward, ``nn.Softmax(dim=0)(h)``, or held where the model does not
        register it, a plain list of layers): it makes the model's tensors, and
        left out, its ops were missing from every view and every check; a loss
        called outside the traced model: the loss that compares the model's
        output with its target belongs to the trace (its error gets the note);
        a data transform called in a DataLoader's fetch."""
        if self.busy or _get_ident() != self.thread or self._global_members is None:
            return False
        for sub in module.modules():
            self._module_keys.watch(sub)
            self._global_members.add(id(sub))
        return True

    def _pass_returned(self, module: nn.Module, result: Any) -> None:
        """The top-level call the global hooks stepped aside for has returned ``result``."""
        self._skipping = 0
        self._left_out_returned(module, result)

    def _left_out_returned(self, module: nn.Module, result: Any) -> None:
        """A pass left out (``records_passes_once``) returned: what its tensors stand for."""
        self.repeat_ended = not self.fetching  # a pass like one recorded (not a data transform's)
        if self.before_pass is not None and _get_ident() == self.thread:
            leaves = tensor_leaves(result) if result is not None else []
            with DisableTorchFunction():  # (a subclass's __torch_function__ must not see the shapes read)
                self.before_pass.stand_in(id(module), leaves, self._last_roots.get(id(module)), self._table.identity)

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
        if torch_function_mode_count() > self._mode_pushed:
            # Another mode is on the stack (a user's, entered in a forward, above
            # ours, which then stays): the reads below must not reach it.
            with DisableTorchFunction():
                self._start_call(module, args, kwargs, call_frame)
        else:
            self._start_call(module, args, kwargs, call_frame)

    def _start_call(self, module: nn.Module, args: tuple, kwargs: dict, call_frame: FrameType) -> None:
        if self._skipping:
            self._skipping += 1
            return
        stack = self._stack
        if not stack and made_for_pytorch(module):
            self._skip_replay()
            return
        if stack:
            user_frame, nested = frames.user_frame_within(call_frame, stack[-1][2])
            if not nested:
                self._close_ended_calls(call_frame)
            location = stack[-1][0].location if user_frame is None and stack else location_of(user_frame)
        else:
            self.pass_ended = self.repeat_ended = False
            if self.losses_only or self.aside:  # the next pass: the window for its predecessor's loss closes
                self.losses_only = self.aside = False
                self._set_ops(self._ops_at_top)
            skip_in_dynamo()  # (cheap) a model compiled since the trace began
            if self._suspended:
                self._resume_ended_suspensions(call_frame)
            location = location_of(first_user_frame(call_frame))
            key = self._module_keys.pass_key(module, location, self.model)
            if (
                self.fetching
                and self._root_filter is None
                and not self.transforms.accept(module, args, kwargs, len(self._events), key)
            ):
                self._skipping = 1  # a data transform's call like one already recorded: counted
                return
            if self._root_filter is not None and not self._root_filter(module, args, kwargs, key):
                self._skipping = 1
                if self.model is None:  # no hook is needed below this call: a faster pass
                    self._global_hooks.step_aside(module, call_frame)
                if self.before_pass is not None:
                    self.before_pass.clear()
                return
            if self.before_pass is not None and not self.fetching:  # the ops that made its inputs
                known = map(self._table.known_identity, tensor_leaves((args, kwargs)))
                self.before_pass.take({number for number in known if number is not None}, self._events, self._op_counts)
        ops_outside = ops_inside = self.ops_wanted
        self.busy = True
        self._pause_for_reads()  # else each metadata read goes through the op mode: 11 us a tensor, not 2.3
        try:
            event = self._module_event(module, args, kwargs, location, call_frame)
            if not stack and self.before_pass is not None:  # a recorded pass (before_pass.stand_in)
                event.tensor_ids = self.before_pass.aliased(event.tensor_ids, len(event.inputs))
                self._last_roots[id(module)] = event
            self._events.append(event)
            stack.append((event, ops_outside, call_frame))
            ops_inside = self._ops_inside(module)
        finally:
            self._set_ops(ops_inside)
            self.busy = False

    def _skip_replay(self) -> None:
        """Leave out a top-level call PyTorch makes (``record/made_for_pytorch.py``: a
        checkpointed block recomputed in the backward pass, the runs of ``torch.jit.trace``
        or ``torch.export``, where an output our op mode wrapped breaks its graph; a
        parametrization computing a weight). The user's program did not make it, so it
        is no pass of the report; nor are its ops."""
        self._skipping = 1
        self._replay_ops = self.ops_wanted
        self._set_ops(False)

    def _module_event(
        self, module: nn.Module, args: tuple, kwargs: dict, location: Location | None, call_frame: FrameType | None
    ) -> Event:
        stack = self._stack
        parent = stack[-1][0] if stack else None
        module_id = id(module)
        name = self._names.get(module_id)
        if name is None:
            name = self._name_of(module, parent, call_frame)
        info = self._module_info.get(module_id) or self._info_of(module)
        identities = self._identities
        identities.clear()
        if not kwargs and len(args) == 1 and type(args[0]) in _TENSORS:
            # Most calls (a layer given one tensor): its record without the
            # walk, in the tuple shared by equal records (MetaTable.single).
            # T5 ops on: 2/3 of its module calls, 1% of its traced forward.
            inputs: tuple | list = _single(self._meta_of(args[0], _FIRST_ARG))
        else:
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
            inputs if type(inputs) is tuple else tuple(inputs),
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
        if torch_function_mode_count() > self._mode_pushed:  # (as in _enter)
            with DisableTorchFunction():
                self._end_call(module, result, exc)
        else:
            self._end_call(module, result, exc)

    def _end_call(self, module: nn.Module, result: Any, exc: BaseException | None) -> None:
        if self._skipping:
            self._skipping -= 1
            if not self._skipping and self._replay_ops is not None:
                self._set_ops(self._replay_ops)
                self._replay_ops = None
            elif not self._skipping and not self._stack:
                self._left_out_returned(module, None if exc is not None else result)
            return
        stack = self._stack
        if not stack:
            return  # a call that began before recording started
        if stack[-1][0].module_id != id(module) and not self._close_calls_above(id(module)):
            return
        event, ops_outside, _ = stack.pop()
        self.busy = True
        self._pause_for_reads()
        try:
            if exc is not None:
                event.error = error_text(exc)
            else:
                self._record_outputs(event, result)
            if event.info is not None and event.info[1] is None:  # a lazy module, initialized by now
                event.info = self._module_info[id(module)] = module_info(module)
        finally:
            if not stack and exc is None and not self.fetching:
                self.pass_ended = True  # the loss of this pass, with ops off: see __init__
                if not ops_outside and self.ops:
                    self.open_loss_window(event)  # the loss of this pass: see __init__
                    ops_outside = True
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

    def _name_of(self, module: nn.Module, parent: Event | None, call_frame: FrameType | None = None) -> str:
        name = self._names.get(id(module))
        if name is not None:
            return name
        # Only without a model: name modules as they first run.
        if parent is None:
            # A data transform under the API never takes the model's name "" (the root).
            transform = self.fetching and self._root_filter is None
            owner = None if transform else calling_owner(module, call_frame)
            if owner is not None:
                # Its parent's forward runs without hooks (``self.forward(x)``): it is named
                # as a part of that parent (``relu``, ``layer_1.relu``), as when the parent is
                # called later, not as a model of its own ("" or ``relu_1``).
                self._name_of(owner, None, owner_frame(owner, call_frame))
                return self._names[id(module)]
            keys = self._module_keys
            key = keys.known_key(module)
            name = keys.names.get(key) if key is not None else None  # a rebuild's: its predecessor's
            if name is None:
                name = "" if "" not in self._counts and not transform else None
                if name is None:  # by the user's variable (``G``, ``ema``), else by class (``sequential``)
                    held_as = None if transform else variable_name(module, call_frame)
                    name = unique_name(type(module).__name__, self._counts, base=held_as)
                if key is not None and key < 0:
                    keys.names[key] = name
            self._counts.setdefault(name, 0)  # taken, even before it runs (named as an owner)
            self._name_parts(module, name)
            return self._names[id(module)]
        # Not among the model's submodules when recording began. Registered by its caller
        # since (``self.fc = nn.Linear(...)`` run in the forward), it has that name; else
        # (built in the forward, held in a plain list) it is named by where its caller
        # keeps it (``<layers[0]>``) or by its class, and its facts say so (ST024).
        label, holding = caller_label(module, call_frame)
        name = f"{parent.name}.{label}" if parent.name else label
        if holding is not None:
            self._module_info[id(module)] = unregistered_info(module, holding)
        self._names[id(module)] = name
        self._name_parts(module, name)
        return name

    def _name_parts(self, module: nn.Module, name: str) -> None:
        """Name ``module``'s submodules (those not named yet) under ``name``, and watch
        them: their ids are forgotten when they die (module_keys.py)."""
        for sub_name, sub in module.named_modules():
            sub_name = unwrapped_name(sub_name, module)
            self._module_keys.watch(sub)
            self._names.setdefault(id(sub), f"{name}.{sub_name}" if name and sub_name else name or sub_name)

    def _info_of(self, module: nn.Module) -> ModuleInfo:
        info = self._module_info.get(id(module))
        if info is None:
            count = self._param_counts.get(id(module))
            kept = self._kept_infos
            if count is not None and kept is not None:  # a module of the model's kept facts
                info = kept_module_info(module, count, kept)
            else:
                info = module_info(module, count)
            self._module_info[id(module)] = info
        return info


def _frames_up(frame: FrameType | None) -> set[int]:
    """Ids of the frames running below ``frame``, itself included (the
    recorder holds the frames it compares with these: their ids are not reused)."""
    running = set()
    while frame is not None:
        running.add(id(frame))
        frame = frame.f_back
    return running
