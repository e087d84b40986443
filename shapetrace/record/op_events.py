"""Op events: what the op mode records of one tensor operation."""

from __future__ import annotations

from typing import Any

from shapetrace.core.records import Location
from shapetrace.core.tensor_meta import TensorMeta, index_path, summarize_arg
from shapetrace.core.torch_facts import KEEP_WITHOUT_OUTPUT
from shapetrace.record.events import Event, error_text
from shapetrace.record.recording_state import RecordingState, _Parameter, _Tensor

_PLAIN_ARGS = frozenset({int, bool, str, type(None)})  # summarize_arg returns them as they are


class OpEvents(RecordingState):
    """The op side of a ``Recorder``: the op mode calls ``op_started`` before an
    op runs and ``op_finished`` after, with its result or its exception."""

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
