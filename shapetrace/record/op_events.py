"""Op events: what the op mode records of one tensor operation.

The op mode records an op in one pass (``run_op``): its inputs are read, it
runs, and its ``Call`` is made from its outputs, with no event in between. A
collective (distributed.py) is written into the trace before it runs (a rank
may die in it), so it goes through an ``Event`` (``op_started``/``op_finished``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import Any

from shapetrace.core.meta_table import MetaTable
from shapetrace.core.records import NO_ENTRIES, Location, make_call
from shapetrace.core.tensor_meta import (
    ALL_TENSOR_ARGS,
    INDEX_PATHS,
    TENSOR_ARGS,
    TensorMeta,
    collect_metas,
    index_path,
    standin,
    summarize_arg,
)
from shapetrace.core.torch_facts import KEEP_WITHOUT_OUTPUT
from shapetrace.core.torch_private import DisableTorchFunction, torch_function_mode_count
from shapetrace.record import frames
from shapetrace.record.events import Event, error_text
from shapetrace.record.recording_state import RecordingState, _Parameter, _Tensor

_PLAIN_ARGS = frozenset({int, bool, str, type(None)})  # summarize_arg returns them as they are
_single = MetaTable.single
_Unseen = DisableTorchFunction
# An op's record before it runs: input metas and ids, location, depth, index,
# parent id, argument summaries, site.
_OpInputs = tuple[
    tuple[TensorMeta, ...], tuple[int, ...], Location | None, int, int, int | None, tuple, dict, int | None
]


class OpEvents(RecordingState):
    """The op side of a ``Recorder``: the op mode runs an op through ``run_op``;
    a collective calls ``op_started`` before it runs and ``op_finished`` after,
    with its result or its exception."""

    def run_op(
        self,
        described: tuple[str, str],
        location: Location | None,
        call: Callable[[Callable, tuple, dict], Any],
        func: Callable,
        args: tuple,
        kwargs: dict,
        changes: bool = False,
        site: int | None = None,
    ) -> Any:
        """Run ``call(func, args, kwargs)`` and record it as an op made at ``location``;
        ``changes``: the op changes its tensors' metadata in place (``unsqueeze_``);
        ``site``: which expression of the line (``records.Call.site``).

        One function for the whole op, its ``Call`` made directly: an event
        frozen later cost ~2.7 us an op (its object, then the Call's), a
        tenth of recording one.
        """
        __tracebackhide__ = True
        # Other modes on the stack (the op mode is off it while it handles an
        # op) would see the reads: they are made with every mode and subclass
        # off, only then (a context costs ~0.35 us, a third of an op's reads).
        unseen = _Unseen() if torch_function_mode_count() else None
        self.busy = True
        try:
            if unseen is None:
                inputs = self._op_inputs(described[0], location, args, kwargs, site)
            else:
                with unseen:
                    inputs = self._op_inputs(described[0], location, args, kwargs, site)
        finally:
            self.busy = False
        try:
            result = call(func, args, kwargs)
        except BaseException as exc:
            self.busy = True
            try:
                self._add_op(described, inputs, (), (), error_text(exc))
            finally:
                self.busy = False
            raise
        finally:
            if changes:
                self._table.changed()  # before its outputs (itself, changed) are read
        self.busy = True
        if unseen is not None:
            unseen.__enter__()
        try:
            identities = self._identities
            identities.clear()
            kind = type(result)
            if kind is _Tensor or kind is _Parameter:  # most ops' result: no walk
                outputs: tuple[TensorMeta, ...] = _single(self._meta_of(result, ""))
            else:
                outputs = tuple(collect_metas(result, "", None, 0, self._meta_of))
                if not outputs and described[0] not in KEEP_WITHOUT_OUTPUT:
                    return result  # x.tolist(), x.backward(): no tensor, nothing to show
            self._add_op(described, inputs, outputs, tuple(identities))
        finally:
            if unseen is not None:
                unseen.__exit__(None, None, None)
            self.busy = False
        return result

    def run_op_aside(self, user_frame: FrameType | None, *op: Any) -> Any:
        """``run_op(*op)`` of an op outside any pass under ``shapetrace run``: its record
        is kept aside, and joins the trace if it made a recorded pass's inputs
        (before_pass.py); an op of a site recorded often enough is not recorded.
        ``user_frame``: the user's frame that ran it, whose caller's line is kept too
        (``init_hidden(BATCH)`` for the ``torch.zeros`` in its body)."""
        __tracebackhide__ = True
        before = self.before_pass
        described, location, call, func, args, kwargs, changes, _ = op
        if before is None or not before.wanted(location, described[0]):
            if not changes:
                return call(func, args, kwargs)
            try:
                return call(func, args, kwargs)
            finally:
                self._table.changed()
        events, counts = self._events, self._op_counts
        self._events, self._op_counts = before.scratch, before.counts
        try:
            return self.run_op(*op)
        finally:
            self._events, self._op_counts = events, counts
            before.keep(frames.caller_location(user_frame))

    def _op_inputs(
        self, name: str, location: Location | None, args: tuple, kwargs: dict, site: int | None = None
    ) -> _OpInputs:
        """What an op's record takes from before it runs (the recorder is ``busy``)."""
        meta_of = self._meta_of
        identities = self._identities
        identities.clear()
        metas: list[TensorMeta] = []
        # summarize_arg's first cases inline: nearly every argument is a
        # tensor or a size, and a call per argument cost ~20% of this method.
        summary = []
        tensors_only = True
        for index, arg in enumerate(args):
            kind = type(arg)
            if kind is _Tensor or kind is _Parameter:
                if index < 16:
                    metas.append(meta_of(arg, INDEX_PATHS[index]))
                    summary.append(TENSOR_ARGS[index])
                    continue
                path = index_path(index)
                metas.append(meta_of(arg, path))
                summary.append(standin("tensor", path))
            elif kind in _PLAIN_ARGS:
                summary.append(arg)
            else:
                summary.append(summarize_arg(arg, index_path(index), metas, 0, meta_of))
            tensors_only = False
        kw_summary = (
            {k: v if type(v) in _PLAIN_ARGS else summarize_arg(v, k, metas, 0, meta_of) for k, v in kwargs.items()}
            if kwargs
            else NO_ENTRIES
        )
        stack = self._stack
        # Equal locations are one object: its id is a key that, unlike
        # the dataclass, needs no hashing of four fields per op.
        key = (id(location), name)
        counts = self._op_counts
        index = counts.get(key, 0)
        counts[key] = index + 1
        return (
            _single(metas[0]) if len(metas) == 1 else tuple(metas),
            tuple(identities),
            location,
            len(stack),
            index,
            stack[-1][0].id if stack else None,
            ALL_TENSOR_ARGS[len(summary)] if tensors_only else tuple(summary),
            kw_summary,
            site,
        )

    def _add_op(
        self,
        described: tuple[str, str],
        inputs: _OpInputs,
        outputs: tuple[TensorMeta, ...],
        output_ids: tuple[int, ...],
        error: str | None = None,
    ) -> None:
        metas, input_ids, location, depth, index, parent_id, summary, kw_summary, site = inputs
        events = self._events
        events.append(
            make_call(
                len(events),
                "op",
                described[0],
                described[1],
                metas,
                outputs,
                location,
                depth,
                index,
                parent_id,
                summary,
                kw_summary,
                NO_ENTRIES,
                0,
                error,
                None,
                input_ids + output_ids,
                site,
            )
        )

    def op_started(self, described: tuple[str, str], location: Location | None, args: tuple, kwargs: dict) -> Event:
        """An op is about to run at ``location``: its event, not yet in the trace.
        (A collective: rare, so its reads are hidden from other modes always.)"""
        self.busy = True
        try:
            with _Unseen():
                metas, input_ids, location, depth, index, parent_id, summary, kw_summary, _ = self._op_inputs(
                    described[0], location, args, kwargs
                )
        finally:
            self.busy = False
        return Event(
            -1,
            "op",
            described[0],
            described[1],
            metas,
            input_ids,
            location,
            depth,
            index,
            parent_id,
            summary,
            kw_summary,
        )

    def op_finished(self, event: Event, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            event.error = error_text(exc)
        else:
            self.busy = True
            try:
                with _Unseen():
                    self._record_outputs(event, result)
            finally:
                self.busy = False
            if not event.outputs and event.name not in KEEP_WITHOUT_OUTPUT:
                return  # x.tolist(), x.backward(): no tensor, nothing to show
        event.id = len(self._events)
        self._events.append(event)


frames.add_transparent(OpEvents.run_op.__code__)  # an outer trace's op mode looks past it
frames.add_transparent(OpEvents.run_op_aside.__code__)
