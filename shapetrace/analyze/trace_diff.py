"""Comparing two traces: which calls changed shape, dtype or device, tensor by tensor.

Calls are matched by a key that survives refactors which keep module names:
a module call by (name, index); an op by its parent module call and its
position among the same-named ops under that parent. Within a matched call,
tensors are matched by their place in the call's inputs or outputs
(``TensorMeta.path``), and named as PyTorch names them (an LSTM's ``h_n`` and
``c_n``, from ``core/torch_facts.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Literal

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import tensor_name
from shapetrace.core.trace import Trace

CallKey = tuple
Side = Literal["in", "out"]
FIELDS = ("shape", "dtype", "device", "layout")


@dataclasses.dataclass(frozen=True)
class TensorChange:
    """One input or output of a matched call that differs between the traces.

    Attributes:
        side: ``"in"`` (an input of the call) or ``"out"`` (an output).
        name: PyTorch's name for it (``"h_n"``, ``"c_n"``, ``"input"``,
            ``"target"``), else its path among the call's tensors (``"1"``,
            ``"0.1"``); ``""`` for a call's only tensor on that side.
        before: the tensor in the first trace; None when only the second has it.
        after: the tensor in the second trace; None when only the first has it.
        fields: what differs, from ``"shape"``, ``"dtype"``, ``"device"``,
            ``"layout"``; ``("added",)`` or ``("removed",)`` for a tensor one
            trace lacks.
        dims: the positions of the dims whose size changed (``(2,)`` for
            ``(5, 30, 64)`` -> ``(5, 30, 32)``); every position of both
            shapes when the number of dims changed; ``()`` when the shape did not.
    """

    side: Side
    name: str
    before: TensorMeta | None
    after: TensorMeta | None
    fields: tuple[str, ...]
    dims: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class CallChange:
    """One matched, added or removed call; ``before``/``after`` is None when absent.

    Attributes:
        key: the matching key (see the module's docstring).
        before: the call in the first trace, None for an added call.
        after: the call in the second trace, None for a removed call.
        what: for a matched call, the fields that differ in any of its
            tensors (``"shape"``, ``"dtype"``, ``"device"``, ``"layout"``,
            and ``"tensors"`` when one side has a tensor the other lacks);
            ``("added",)`` or ``("removed",)`` for a whole call.
        tensors: a matched call's tensors that differ, inputs first, in the
            call's order; an added or removed call's outputs.
    """

    key: CallKey
    before: Call | None
    after: Call | None
    what: tuple[str, ...]
    tensors: tuple[TensorChange, ...] = ()


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


def changed_dims(before: Sequence[int], after: Sequence[int]) -> tuple[int, ...]:
    """Positions whose size differs; every position of the longer shape when the ranks differ.

    >>> from shapetrace.analyze.trace_diff import changed_dims
    >>> changed_dims((5, 30, 64), (5, 30, 32))
    (2,)
    >>> changed_dims((5, 1), (5,))
    (0, 1)
    """
    if len(before) != len(after):
        return tuple(range(max(len(before), len(after))))
    return tuple(i for i, (a, b) in enumerate(zip(before, after)) if a != b)


def _name(call: Call, meta: TensorMeta, side: Side, lone: bool) -> str:
    name = tensor_name(call, meta, output=side == "out")
    if name == meta.path and lone and meta.path in ("", "0"):
        return ""  # the call's only tensor on this side: "in", "out" say it all
    return name


def _tensor_changes(before: Call, after: Call, side: Side) -> list[TensorChange]:
    old = {m.path: m for m in (before.inputs if side == "in" else before.outputs)}
    new = {m.path: m for m in (after.inputs if side == "in" else after.outputs)}
    lone = len(old) <= 1 and len(new) <= 1
    changes = []
    for path in [*new, *(p for p in old if p not in new)]:
        a, b = old.get(path), new.get(path)
        call = after if b is not None else before
        meta = b if b is not None else a
        assert meta is not None
        name = _name(call, meta, side, lone)
        if a is None or b is None:
            changes.append(TensorChange(side, name, a, b, ("added",) if a is None else ("removed",)))
            continue
        fields = tuple(f for f in FIELDS if getattr(a, f) != getattr(b, f))
        if fields:
            dims = changed_dims(a.shape, b.shape) if "shape" in fields else ()
            changes.append(TensorChange(side, name, a, b, fields, dims))
    return changes


def _whole_call(call: Call, side: Literal["added", "removed"]) -> tuple[TensorChange, ...]:
    """An added or removed call's outputs."""
    lone = len(call.outputs) <= 1
    return tuple(
        TensorChange(
            "out",
            _name(call, m, "out", lone),
            m if side == "removed" else None,
            m if side == "added" else None,
            (side,),
        )
        for m in call.outputs
    )


def _diff_call(key: CallKey, before: Call, after: Call) -> CallChange | None:
    """How one matched call's tensors differ; None when they agree in shape, dtype, device and layout."""
    tensors = _tensor_changes(before, after, "in") + _tensor_changes(before, after, "out")
    if not tensors:
        return None
    found = {field for change in tensors for field in change.fields}
    what = tuple(f for f in FIELDS if f in found) + (("tensors",) if found & {"added", "removed"} else ())
    return CallChange(key, before, after, what, tuple(tensors))


def diff_traces(before: Trace, after: Trace) -> list[CallChange]:
    """The calls that differ, in the order of ``after`` (removed ones last).

    >>> changes = diff_traces(before, after)            # doctest: +SKIP
    >>> [(c.after.name, [(t.side, t.name, t.dims) for t in c.tensors]) for c in changes]  # doctest: +SKIP
    [('lstm', [('out', 'output', (2,)), ('out', 'h_n', (2,)), ('out', 'c_n', (2,))]), ('linear', [('in', '', (1,))])]

    Args:
        before: the first trace (e.g. before a refactor).
        after: the second trace.

    Returns:
        One :class:`CallChange` per call whose tensors differ in shape, dtype,
        device or layout, or that only one trace has; an empty list when the
        traces agree.
    """
    old = dict(call_keys(before))
    new = dict(call_keys(after))
    changes = []
    for key, call in new.items():
        previous = old.get(key)
        if previous is None:
            changes.append(CallChange(key, None, call, ("added",), _whole_call(call, "added")))
        elif (change := _diff_call(key, previous, call)) is not None:
            changes.append(change)
    changes += [
        CallChange(key, call, None, ("removed",), _whole_call(call, "removed"))
        for key, call in old.items()
        if key not in new
    ]
    return changes
