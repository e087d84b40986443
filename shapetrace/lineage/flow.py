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


@dataclasses.dataclass
class _Entry:
    source: Source
    lineage: Lineage


class _Scope:
    """The tensors visible inside one module call, in production order."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.entries: dict[TensorKey, list[_Entry]] = defaultdict(list)

    def add(self, key: TensorKey, entry: _Entry) -> None:
        self.entries[key].append(entry)

    def candidates(self, key: TensorKey) -> list[_Entry]:
        scope: _Scope | None = self
        while scope is not None:
            found = scope.entries.get(key)
            if found:
                return found
            scope = scope.parent
        return []

    def supersede(self, key: TensorKey, entry: _Entry) -> None:
        """An op returned a tensor indistinguishable from its input (``.to``
        on the right device, ``x.contiguous()`` of a contiguous x, an in-place
        op): the new record stands for the tensor from now on."""
        found = self.entries.get(key)
        if found and entry in found:
            found.remove(entry)


def _container(path: str) -> str:
    return path.rpartition(".")[0]


class DataFlow:
    """Producer links and dimension lineage of every call of a trace."""

    def __init__(self) -> None:
        self._inputs: dict[int, list[Lineage]] = {}
        self._outputs: dict[int, list[Lineage]] = {}
        self._sources: dict[int, list[Source | None]] = {}
        self._consumers: dict[tuple[int, int], list[tuple[Call, int]]] = defaultdict(list)
        self._read: set[int] = set()  # id() of the entries some call took

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

        inner = _Scope(scope)
        for k, meta in enumerate(call.inputs):
            inner.add(tensor_key(meta), _Entry(Source(call, k, as_input=True), ins[k]))
        for child in call.children:
            self.visit(child, inner)

        outs = self._output_lineages(call, ins, inner)
        self._outputs[call.id] = outs
        linked = {tensor_key(e.source.meta): e for e in sources if e is not None}
        for k, meta in enumerate(call.outputs):
            key = tensor_key(meta)
            if key in linked:
                scope.supersede(key, linked[key])
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
            found = scope.candidates(key)
            if not found:
                continue
            unread = [entry for entry in found if id(entry) not in self._read][-len(positions):]
            chosen = [found[-1]] * (len(positions) - len(unread)) + unread if len(positions) > 1 else [found[-1]]
            for k, entry in zip(positions, chosen):
                result[k] = entry
                self._read.add(id(entry))
        return result

    @staticmethod
    def _unknown(call: Call, meta: TensorMeta, scope: _Scope) -> Lineage:
        """New atoms for a tensor without a producer: a model input, a parameter."""
        where = "input" if scope.parent is None and call.kind == "module" else "unknown"
        return fresh(f"{where}#{call.id}[{meta.path}]", meta.shape)

    def _output_lineages(self, call: Call, ins: list[Lineage], inner: _Scope) -> list[Lineage]:
        if call.kind == "op":
            return op_lineage(call, ins)
        traced = call.defined_at is not None or call.type in CONTAINER_TYPES
        if traced and call.children:
            found = [inner.candidates(tensor_key(meta)) for meta in call.outputs]
            if all(found):
                return [entries[-1].lineage for entries in found]
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
