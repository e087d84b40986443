"""Linking each tensor a call receives to the call that produced it.

A trace records metadata, never tensor identity, so a link is a match: an
input is the most recent tensor of the same scope (earlier outputs of the
sibling calls, then the inputs of the enclosing module, then outer scopes)
with the same shape, stride, dtype and device. Stride tells most views
apart (an LSTM's non-contiguous output from its ``.contiguous()`` copy).

Limits: two live tensors with equal metadata in one scope are confused, the
most recent winning (``x + f(x)`` where ``f`` keeps the shape links both to
``f``'s output). Parameters, buffers and tensors kept from an earlier
forward have no producer in the trace. ``render/dataflow.py`` links calls for
the graph by the same metadata rule, without scopes.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice

from ..meta import TensorMeta
from ..records import Call
from .atoms import Lineage, fresh
from .modules import CONTAINER_TYPES, module_lineage
from .ops import fallback, op_lineage

TensorKey = tuple


def tensor_key(meta: TensorMeta) -> TensorKey:
    return (meta.shape, meta.stride, meta.dtype, meta.device)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a tensor came from: output ``index`` of ``call``, or its input
    ``index`` when ``as_input`` (a tensor the enclosing module received)."""

    call: Call
    index: int
    as_input: bool = False

    @property
    def meta(self) -> TensorMeta:
        return (self.call.inputs if self.as_input else self.call.outputs)[self.index]


# How far back, among tensors alike, to look for one nobody has read yet.
_UNREAD_LOOKBACK = 64


@dataclasses.dataclass(eq=False)
class _Entry:
    source: Source
    lineage: Lineage
    read: bool = False
    superseded: bool = False


class _Scope:
    """The tensors visible inside one module call, in production order."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.entries: dict[TensorKey, list[_Entry]] = defaultdict(list)

    def add(self, key: TensorKey, entry: _Entry) -> None:
        self.entries[key].append(entry)

    def latest(self, key: TensorKey, count: int = 1) -> list[_Entry]:
        """Up to ``count`` entries alike, newest first, from the nearest scope that has one."""
        scope: _Scope | None = self
        while scope is not None:
            found = scope.entries.get(key)
            if found:
                return list(islice((entry for entry in reversed(found) if not entry.superseded), count))
            scope = scope.parent
        return []


class DataFlow:
    """Producer links and dimension lineage of every call of a trace."""

    def __init__(self) -> None:
        self._inputs: dict[int, list[Lineage]] = {}
        self._outputs: dict[int, list[Lineage]] = {}
        self._sources: dict[int, list[Source | None]] = {}
        self._consumers: dict[tuple[int, int], list[tuple[Call, int]]] = defaultdict(list)

    # ------------------------------------------------------------- queries
    def input_lineage(self, call: Call, index: int = 0) -> Lineage:
        return self._inputs[call.id][index]

    def output_lineage(self, call: Call, index: int = 0) -> Lineage:
        return self._outputs[call.id][index]

    def source(self, call: Call, index: int = 0) -> Source | None:
        """The producer of input ``index`` of ``call``, None when unknown."""
        return self._sources[call.id][index]

    def consumers(self, call: Call, index: int = 0) -> list[tuple[Call, int]]:
        """``(call, input index)`` of each call that received that output."""
        return list(self._consumers.get((call.id, index), ()))

    def producers(self, call: Call, index: int = 0) -> Iterator[Source]:
        """The chain of producers behind input ``index``, nearest first."""
        source = self.source(call, index)
        seen = set()
        while source is not None and not source.as_input and source.call.id not in seen:
            seen.add(source.call.id)
            yield source
            link = next((k for k, meta in enumerate(source.call.inputs) if meta.path in ("0", "")), None)
            source = self.source(source.call, link) if link is not None else None

    # ------------------------------------------------------------ building
    def visit(self, call: Call, scope: _Scope) -> None:
        sources = self._link(call, scope)
        self._sources[call.id] = [entry.source if entry else None for entry in sources]
        ins = [entry.lineage if entry else self._unknown(call, meta, scope)
               for entry, meta in zip(sources, call.inputs)]
        self._inputs[call.id] = ins
        for k, entry in enumerate(sources):
            if entry is not None and not entry.source.as_input:
                self._consumers[(entry.source.call.id, entry.source.index)].append((call, k))

        inner = _Scope(scope) if call.children else None
        if inner is not None:
            for k, meta in enumerate(call.inputs):
                inner.add(tensor_key(meta), _Entry(Source(call, k, as_input=True), ins[k]))
            for child in call.children:
                self.visit(child, inner)

        outs = self._output_lineages(call, ins, inner)
        self._outputs[call.id] = outs
        # An output indistinguishable from an input (``.to`` on the device it
        # is on, an in-place op) stands for that tensor from now on.
        linked = {tensor_key(e.source.meta): e for e in sources if e is not None}
        for k, meta in enumerate(call.outputs):
            key = tensor_key(meta)
            if key in linked:
                linked[key].superseded = True
            scope.add(key, _Entry(Source(call, k), outs[k]))

    def _link(self, call: Call, scope: _Scope) -> list[_Entry | None]:
        """The entry each input matches.

        Inputs alike (same metadata) take distinct producers while some have
        not been read yet: an LSTM's fresh ``h_0`` and ``c_0`` are two
        tensors, while self-attention's query, key and value, already read
        once, are one tensor passed three times.
        """
        result: list[_Entry | None] = [None] * len(call.inputs)
        groups: dict[TensorKey, list[int]] = defaultdict(list)
        for k, meta in enumerate(call.inputs):
            groups[tensor_key(meta)].append(k)
        for key, positions in groups.items():
            latest = scope.latest(key, _UNREAD_LOOKBACK)
            if not latest:
                continue
            chosen = [latest[0]] * len(positions)
            if len(positions) > 1:
                unread = [entry for entry in latest if not entry.read][:len(positions)][::-1]
                chosen = chosen[:len(positions) - len(unread)] + unread
            for k, entry in zip(positions, chosen):
                result[k] = entry
                entry.read = True
        return result

    @staticmethod
    def _unknown(call: Call, meta: TensorMeta, scope: _Scope) -> Lineage:
        """New atoms for a tensor without a producer: a model input, a parameter."""
        where = "input" if scope.parent is None and call.kind == "module" else "unknown"
        return fresh(f"{where}#{call.id}[{meta.path}]", meta.shape)

    def _output_lineages(self, call: Call, ins: list[Lineage], inner: _Scope | None) -> list[Lineage]:
        if call.kind == "op":
            return op_lineage(call, ins)
        # A user's module (or a Sequential) returns what its children made;
        # a built-in module's inner ops are not recorded: its rule decides.
        traced = call.defined_at is not None or call.type in CONTAINER_TYPES
        if traced and inner is not None:
            found = [inner.latest(tensor_key(meta)) for meta in call.outputs]
            if all(found):
                return [entries[0].lineage for entries in found]
        return module_lineage(call, ins) or fallback(call, ins)


_CACHE: dict[int, tuple[tuple[Call, ...], DataFlow]] = {}


def analyze(calls: tuple[Call, ...]) -> DataFlow:
    """The data flow of a trace's calls (cached for the last trace analysed)."""
    cached = _CACHE.get(id(calls))
    if cached is not None and cached[0] is calls:
        return cached[1]
    flow = DataFlow()
    top = _Scope()
    for call in calls:
        if call.parent is None:
            flow.visit(call, top)
    _CACHE.clear()  # one trace at a time: checks run back to back on it
    _CACHE[id(calls)] = (calls, flow)
    return flow
