"""Comparing two traces: which calls changed shape, dtype or device.

Calls are matched by a key that survives refactors which keep module names:
a module call by (name, index); an op by its parent module call and its
position among the same-named ops under that parent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.trace import Trace

CallKey = tuple


@dataclasses.dataclass(frozen=True)
class CallChange:
    """One matched, added or removed call; ``before``/``after`` is None when absent."""

    key: CallKey
    before: Call | None
    after: Call | None
    what: tuple[str, ...]  # "shape", "dtype", "device", "added", "removed"


def call_keys(trace: Trace) -> Iterator[tuple[CallKey, Call]]:
    counts: dict[tuple, int] = {}
    for call in trace.calls:
        if call.kind == "module":
            yield ("module", call.name, call.index), call
            continue
        parent = (call.parent.name, call.parent.index) if call.parent is not None else None
        slot = (parent, call.name)
        nth = counts.get(slot, 0)
        counts[slot] = nth + 1
        yield ("op", parent, call.name, nth), call


def _signature(metas: tuple[TensorMeta, ...], field: str) -> tuple:
    return tuple((m.path, getattr(m, field)) for m in metas)


def _changed_fields(before: Call, after: Call) -> tuple[str, ...]:
    return tuple(
        field
        for field in ("shape", "dtype", "device")
        if _signature(before.inputs, field) != _signature(after.inputs, field)
        or _signature(before.outputs, field) != _signature(after.outputs, field)
    )


def diff_traces(before: Trace, after: Trace) -> list[CallChange]:
    """The calls that differ, in the order of ``after`` (removed ones last)."""
    old = dict(call_keys(before))
    new = dict(call_keys(after))
    changes = []
    for key, call in new.items():
        previous = old.get(key)
        if previous is None:
            changes.append(CallChange(key, None, call, ("added",)))
        elif what := _changed_fields(previous, call):
            changes.append(CallChange(key, previous, call, what))
    changes += [CallChange(key, call, None, ("removed",)) for key, call in old.items() if key not in new]
    return changes
