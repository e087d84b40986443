"""The state of one trace while it is recorded, and what both kinds of event share.

``Recorder`` (recorder.py) is made of this state, the module calls
(module_calls.py) and the op events (op_events.py). The op mode is pushed
only where the user's own code runs: inside PyTorch's built-in modules it is
popped off the mode stack, because any active torch function mode disables
PyTorch's fast paths (``TransformerEncoderLayer`` inference measured 1.22x
slower, results off by ~1e-6). It is popped while the recorder reads tensor
metadata too: each read would go through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from types import FrameType
from typing import Any, Literal, Protocol, Union

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from shapetrace.core.loss_facts import LOSS_WINDOW_OPS
from shapetrace.core.meta_table import MetaTable
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import collect_metas
from shapetrace.core.torch_facts import LOSS_OPS
from shapetrace.core.torch_private import DisableTorchFunction, push_torch_function_mode
from shapetrace.record import frames
from shapetrace.record.before_pass import BeforePass
from shapetrace.record.data_transforms import TransformFilter
from shapetrace.record.events import Event
from shapetrace.record.hooks import GlobalHooks, ModuleHooks
from shapetrace.record.kept_info import KeptInfo
from shapetrace.record.module_info import ModuleInfo, is_builtin_module, records_ops_inside
from shapetrace.record.module_keys import ModuleKeys
from shapetrace.record.op_mode import OpMode, pop_if_on_top, remove_mode

OpsSetting = Union[bool, Literal["all"]]  # noqa: UP007 (a runtime alias on 3.10)


class RootFilter(Protocol):
    """Decides which top-level module calls to record (script.py's pass filters)."""

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, key: Hashable) -> bool:
        """Whether to record this call of ``module``; ``key`` stands for the module
        (its id, or one its rebuilds share: ``ModuleKeys.key``; for a loss, with the
        model whose pass it follows: ``(key, model key)``)."""

    def forget(self, key: int) -> None:
        """The module of ``key`` (its id) is gone, and the keys made with it: a later
        module may get its id."""


_get_ident = threading.get_ident
_Tensor = torch.Tensor
_Parameter = nn.Parameter
_single = MetaTable.single  # a call returning one tensor keeps no tuple of its own
_TENSORS = (_Tensor, _Parameter)


def tensor_leaves(value: Any) -> list[torch.Tensor]:
    """The tensors in a batch (tuples, lists, dicts, namedtuples: ``torch.utils._pytree``)."""
    return [leaf for leaf in tree_leaves(value) if isinstance(leaf, torch.Tensor)]


class RecordingState:
    """What a recorder holds while it records: the events, the open module
    calls, names and counters, the metadata table, and the op mode's state.

    ``root_filter`` decides, for each top-level module call, whether to record
    it (the script runner records one pass per input signature).
    ``ops_at_top`` says whether ops outside any module are recorded.
    """

    # The handlers of the hooks and of the op mode, defined by the recorder's
    # parts (module_calls.py, op_events.py); the hooks and the mode are made
    # here, so that the recorder's signature is written once.
    _module_pre_hook: Callable[..., None]
    _post_hook: Callable[..., None]
    _global_pre_hook: Callable[..., None]
    _global_post_hook: Callable[..., None]
    _pass_returned: Callable[[nn.Module, Any], None]
    op_started: Callable[..., Event]
    run_op: Callable[..., Any]
    run_op_aside: Callable[..., Any]
    op_finished: Callable[..., None]

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
        # the losses that ``ops_at_top=False`` would miss: the functional ones
        # (LOSS_OPS), and the steps of one written out (LOSS_WINDOW_OPS) taken
        # from the call's output (identities in ``_window_ids``), not from
        # anything else the loop computes (an accuracy's ``.sum()``).
        self.losses_only = False
        # The same window with ops off (``ops=False``): functional losses are
        # then recorded by loss_calls.py, which reads these two flags.
        self.pass_ended = False
        # After a top-level call like one recorded before (``shapetrace run`` records one
        # per input signature; the others are not), until the next one starts: a
        # functional loss of shapes no loss had yet (``loss_signatures``) is recorded
        # (loss_calls.py), the critic's loss after an episode of unrecorded steps.
        self.repeat_ended = False
        self.loss_signatures: set[tuple] = set()
        self.losses_at_top = ops_at_top
        # ``shapetrace run`` (a root filter, ops on): the ops outside any pass are
        # recorded aside while ``aside`` (before the first pass, and after each
        # recorded one until the next starts), and those that made a recorded
        # pass's inputs join the trace as it starts (before_pass.py).
        self.before_pass = BeforePass() if root_filter is not None and ops and not ops_at_top else None
        self.aside = False
        self._last_roots: dict[int, Event] = {}  # module id -> its last recorded pass (before_pass.stand_in)
        self._window_ids: set[int] = set()
        self._root_filter = root_filter
        self._ops_at_top = bool(ops) and ops_at_top
        self._mode_pushed = False
        self._events: list[Event | Call] = []  # an op is recorded as its Call directly (op_events.py)
        # Open module calls: (event, ops state before it, its call frame).
        self._stack: list[tuple[Event, bool, FrameType]] = []
        self._suspended: list[FrameType] = []  # call frames of modules outside the model that turned ops off
        # Inside a DataLoader's fetch (record/data_transforms.py): how deep, the
        # op state each fetch found, and which transform calls to record.
        self.fetching = 0
        self.loader_tensors: set[int] = set()  # the numbers of the tensors DataLoaders yielded stacked (dim 0)
        self.fetched_tensors: set[int] = set()  # and of every tensor they yielded (any collate)
        self._fetch_saved: list[tuple[bool, bool, bool, bool] | None] = []
        self._collate_saved: list[tuple[bool, bool]] = []  # (ops_wanted, aside) as a collate started
        self.transforms = TransformFilter()
        self._skipping = 0
        self._replay_ops: bool | None = None  # the op state a skipped replay of the model found
        self._names: dict[int, str] = {}
        # Ids of modules outside the model, forgotten when they die (module_keys.py).
        self._module_keys = ModuleKeys()
        self._module_info: dict[int, ModuleInfo] = {}
        self._param_counts: dict[int, int] = {}  # of the model's modules, counted as recording starts
        # The module facts of the model's last trace, checked and updated by this one (model_facts.py).
        self._kept_infos: dict[int, KeptInfo] | None = None
        self._counts: dict[str, int] = {}
        self._op_counts: dict[tuple[int, str], int] = {}
        table = self._table = MetaTable()
        # True while the op mode is off for the recorder's own reads only (see _set_ops).
        self._paused_for_reads = False
        self._meta_of = table.meta
        self._identities = table.identities  # of the tensors the last _meta_of calls met
        self._module_hooks = ModuleHooks(self._module_pre_hook, self._post_hook)
        self._global_hooks = GlobalHooks(self._global_pre_hook, self._global_post_hook, self._pass_returned)
        # The modules the global hooks record (None: all of them, no model given),
        # and the model's others, hooked one by one.
        self._global_members: set[int] | None = None
        self._own_hooked: set[int] = set()
        self._mode = OpMode(self)

    @property
    def records_passes_once(self) -> bool:
        """Whether a top-level call like one recorded is left out (``shapetrace run``)."""
        return self._root_filter is not None

    # ---------------------------------------------------------- op mode
    def _set_ops(self, wanted: bool) -> None:
        self.ops_wanted = wanted
        # The metadata table trusts what it read while the mode sees every op
        # that could change metadata in place; code that runs with the mode
        # off is unseen, so the table is told (``changed``) when the mode
        # comes back or a read starts with it off. A pop for the recorder's
        # own reads (``busy``) runs no other code: no change then.
        if wanted:
            if not self._mode_pushed:
                push_torch_function_mode(self._mode)
                self._mode_pushed = True
                if not self._paused_for_reads:
                    self._table.changed()
            self._paused_for_reads = False
        elif self._mode_pushed and pop_if_on_top(self._mode):
            self._mode_pushed = False
            self._paused_for_reads = self.busy
        else:
            # Off already, or a mode pushed by someone else above ours, which
            # keeps ours in place (ops are then ignored through ``ops_wanted``,
            # fast paths stay off) and may handle ops without passing them on.
            self._table.changed()
            self._paused_for_reads = False

    def _pause_for_reads(self) -> None:
        """The op mode goes off for the recorder's own reads (``busy``), which start now.

        Where it was off already, code ran unseen since the last read and
        ``_set_ops`` makes the table read every tensor again; either way the
        table holds from here, so a mode pushed back when the reads end needs
        no second refresh. (Each refresh re-reads every live tensor met next,
        ~1.5 us each: a built-in layer in the user's forward cost three, where
        one is due, and its output, read as the call ended, was read again by
        the next op.)"""
        self._set_ops(False)
        self._paused_for_reads = True

    def open_loss_window(self, outputs_of: Event) -> None:
        """Record the loss of the top-level call ``outputs_of``, which returned."""
        self.losses_only = True
        self.aside = self.before_pass is not None
        self._window_ids = set(outputs_of.tensor_ids[len(outputs_of.inputs) :])

    def outside_kind(self, name: str, args: tuple) -> str | None:
        """How the op mode records op ``name`` of ``args`` run outside any pass: ``"loss"``,
        a step of the loss of the pass that returned (``in_loss_window``); ``"aside"``, an
        op that may make the next pass's inputs (``before_pass``); None, not at all."""
        if self.losses_only and self.in_loss_window(name, args):
            return "loss"
        return "aside" if self.aside else None

    def in_loss_window(self, name: str, args: tuple) -> bool:
        """Whether the window after a pass records op ``name`` of ``args``: a
        functional loss, or a step of a loss written out from the pass's output."""
        if name in LOSS_OPS:
            return True
        if name not in LOSS_WINDOW_OPS:
            return False
        known = self._table.known_identity
        return any(type(arg) in _TENSORS and known(arg) in self._window_ids for arg in args)

    def run_loss_op(self, *op: Any) -> Any:
        """``run_op`` of a functional loss the op mode does not see (loss_calls.py): the
        recorded call's signature joins ``loss_signatures``."""
        __tracebackhide__ = True
        events = self._events
        count = len(events)
        described, location, call, func, args, kwargs, site = op
        result = self.run_op(described, location, call, func, args, kwargs, False, site)
        if len(events) > count:
            self.loss_signatures.add(recorded_signature(events[-1]))
        return result

    def run_window_op(self, *op: Any) -> Any:
        """``run_op(*op)`` in the window after a pass: what the op made is the loss's
        too, until the loss itself is made."""
        __tracebackhide__ = True
        if self.before_pass is not None:  # what made its tensors outside the pass, kept aside
            known = self._table.known_identity
            numbers = {known(arg) for arg in op[4] if type(arg) in _TENSORS}
            numbers.discard(None)
            if numbers:
                self.before_pass.take(numbers, self._events, self._op_counts)  # type: ignore[arg-type]
        events = self._events
        count = len(events)
        result = self.run_op(*op)
        if len(events) > count:
            made = events[-1]
            if made.name in LOSS_OPS:
                self.loss_signatures.add(recorded_signature(made))
            # Past the loss (reduced to one number) the loop logs or scales it
            # (``loss.detach()``): no step of the loss. An unreduced one
            # (``reduction="none"``) is weighted and reduced next: steps of the loss.
            if all(meta.shape for meta in made.outputs):
                self._window_ids.update(made.tensor_ids[len(made.inputs) :])
        return result

    def data_fetch(self, started: bool, batch: Any = None, stacked: bool = False) -> None:
        """A DataLoader's fetch of a batch starts (``started``) or ends (with the
        ``batch`` it made, ``stacked`` along dim 0 by the default collate): at the top
        level, no op is recorded while it runs but inside a module it calls. The batch's
        tensors are numbered (``fetched_tensors``; ``loader_tensors`` when stacked)."""
        if _get_ident() != self.thread:
            return
        leaves = tensor_leaves(batch) if batch is not None else []
        if leaves:
            numbers = list(map(self._table.identity, leaves))
            self.fetched_tensors.update(numbers)
            if stacked:
                self.loader_tensors.update(numbers)
        if started:
            self.fetching += 1
            top = not self._stack
            self._fetch_saved.append((self.ops_wanted, self.losses_only, self.pass_ended, self.aside) if top else None)
            if top:
                self.losses_only = self.pass_ended = self.aside = False
                self._set_ops(False)
        elif self._fetch_saved:
            self.fetching -= 1
            saved = self._fetch_saved.pop()
            if saved is not None and not self._stack:
                self._set_ops(saved[0])
                self.losses_only, self.pass_ended, self.aside = saved[1:]
                if self.before_pass is not None and not self.aside and self.before_pass.new_batch(leaves):
                    self.aside = True  # a batch of new shapes (a short last one): record aside what it makes
                    self._set_ops(True)

    def data_collate(self, started: bool) -> None:
        """A ``collate_fn`` of the user's own starts or returns, in a fetch at the top level:
        its ops are recorded while it runs (under ``shapetrace run`` aside, before_pass.py),
        as the ops that made the batch (``torch.stack`` of the samples: the batch axis)."""
        if _get_ident() != self.thread or self._stack or (self.before_pass is None and not self._ops_at_top):
            return
        if started:
            self._collate_saved.append((self.ops_wanted, self.aside))
            self.aside = self.before_pass is not None
            self._set_ops(True)
        elif self._collate_saved:
            wanted, self.aside = self._collate_saved.pop()
            self._set_ops(wanted)

    def _forget_freed(self) -> None:
        """Forget what is kept by the ids of modules freed since the last call:
        a new module may have one of them now (module_keys.py)."""
        for address, own_key in self._module_keys.take_freed():
            self._names.pop(address, None)
            self._module_info.pop(address, None)
            if self._global_members is not None:
                self._global_members.discard(address)
            if own_key:
                self.transforms.forget(address)
                if self._root_filter is not None:
                    self._root_filter.forget(address)

    def _remove_mode(self) -> None:
        if self._mode_pushed:
            remove_mode(self._mode)
            self._mode_pushed = False

    def _ops_inside(self, module: nn.Module) -> bool:
        if not self.ops:
            return False
        return self.ops == "all" or not is_builtin_module(module) or records_ops_inside(module)

    def _record_outputs(self, event: Event, result: Any) -> None:
        """The metadata and identities of the tensors in a call's result."""
        identities = self._identities
        identities.clear()
        kind = type(result)
        if kind is _Tensor or kind is _Parameter:  # most ops' result: no walk
            event.outputs = _single(self._meta_of(result, ""))
        else:
            event.outputs = tuple(collect_metas(result, "", None, 0, self._meta_of))
        if identities:
            event.tensor_ids = (*event.tensor_ids, *identities)


frames.add_transparent(RecordingState.run_window_op.__code__)  # as run_op: an outer trace's op mode looks past it
frames.add_transparent(RecordingState.run_loss_op.__code__)


def loss_signature(name: str, args: tuple, kwargs: dict) -> tuple:
    """What makes a loss call new for the checks: its name and its tensors' shapes, of
    its arguments in order (read unseen by the user's torch function modes and tensor
    subclasses); ``recorded_signature`` of its call once recorded."""
    with DisableTorchFunction():
        values = (*args, *kwargs.values())
        return (name, *(tuple(value.shape) for value in values if isinstance(value, torch.Tensor)))


def recorded_signature(call: Event | Call) -> tuple:
    """``loss_signature`` of a recorded loss, from the metadata its call already holds."""
    return (call.name, *(tuple(meta.shape) for meta in call.inputs))
