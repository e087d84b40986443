"""The only code that touches hooks and torch function modes.

A ``Recorder`` owns the state of one trace (recording_state.py): module
forward hooks (global ones, filtered to the model's modules when a model is
given: see hooks.py, handled in module_calls.py) and a ``TorchFunctionMode``
for tensor operations (op_mode.py, recorded by op_events.py). It keeps
metadata only, never a tensor.

Every recorded call costs: an event, a lookup of the tensors' metadata
(``MetaTable`` shares equal records), the walk to the user's frame (cached
per code object and instruction) and, at the end, a frozen ``Call``.
"""

from __future__ import annotations

from shapetrace.core.records import Call, link_calls
from shapetrace.core.torch_private import DisableTorchFunction
from shapetrace.record.backward_error import FunctionCalls, backward_facts, unwatch_functions, watch_functions
from shapetrace.record.dynamo import skip_in_dynamo
from shapetrace.record.events import Event, error_text
from shapetrace.record.hooks import needs_own_hooks
from shapetrace.record.model_facts import has_own_hooks, model_facts
from shapetrace.record.module_calls import ModuleCalls
from shapetrace.record.module_info import is_builtin_module
from shapetrace.record.op_events import OpEvents
from shapetrace.record.recording_state import OpsSetting, RootFilter

__all__ = ["OpsSetting", "Recorder", "RootFilter", "error_text", "is_builtin_module"]


class Recorder(ModuleCalls, OpEvents):
    """Records module calls and ops into events; ``calls()`` freezes them.

    ``Recorder(model, ops=True, *, root_filter=None, ops_at_top=True)``:
    ``root_filter`` decides, for each top-level module call, whether to record
    it (the script runner records one pass per input signature).
    ``ops_at_top`` says whether ops outside any module are recorded.
    """

    # The facts of the block's error, if raised in a backward pass (backward_error.py).
    backward_error: dict | None = None
    _functions: FunctionCalls | None = None

    def start(self) -> None:
        skip_in_dynamo()
        self._functions = FunctionCalls(self.thread, lambda: self.busy)
        watch_functions(self._functions)
        self._global_hooks.attach()
        if self.model is not None:
            with DisableTorchFunction():  # the parameters' counts: no user's mode sees them read
                facts, modules = model_facts(self.model)
            self._param_counts = facts.counts
            self._kept_infos = facts.infos
            self._names = dict(facts.names)
            if facts.all_global and not has_own_hooks(modules):
                self._global_members = set(facts.global_ids)
                facts.kwargs_flags = self._global_hooks.pass_model_kwargs(modules, facts.kwargs_flags)
            else:
                self._global_members = set(facts.script_ids)
                hooked_globally = []
                for module in modules:
                    if id(module) in facts.script_ids:
                        # One opaque call: it runs outside Python, and its class refuses
                        # Python hooks of its own (the global ones see its calls).
                        continue
                    if needs_own_hooks(module):
                        self._module_hooks.attach(module)
                        self._own_hooked.add(id(module))
                    else:
                        self._global_members.add(id(module))
                        hooked_globally.append(module)
                self._global_hooks.pass_kwargs(hooked_globally)
        self.aside = self.before_pass is not None  # the ops before the first pass (before_pass.py)
        self._set_ops(self._ops_at_top or self.aside)

    def stop(self, exc: BaseException | None = None) -> None:
        """Remove every hook and the mode; close calls left open by an error."""
        if self._functions is not None:
            unwatch_functions(self._functions)
            if exc is not None:
                self.backward_error = backward_facts(exc, self._table.known_identity, self._functions)
            self._functions = None
        self._module_hooks.detach()
        self._global_hooks.detach()
        self.ops_wanted = self.losses_only = self.aside = False
        self._remove_mode()
        while self._stack:  # an exception that skipped the always_call hooks
            event = self._stack.pop()[0]
            if event.error is None:
                event.error = error_text(exc) if exc is not None else "interrupted"
        self._suspended.clear()
        self._module_keys.clear()
        self._names = {}
        self._module_info.clear()
        self._param_counts = {}  # (the model's facts, kept for its next trace: never cleared)
        self._kept_infos = None

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
                event = events.pop()
                calls.append(event.freeze() if isinstance(event, Event) else event)
        else:
            calls = [event.freeze() if isinstance(event, Event) else event for event in events]
        link_calls(calls, numbered=True)  # (an event's id is its index: module_calls.py, op_events.py)
        return calls
