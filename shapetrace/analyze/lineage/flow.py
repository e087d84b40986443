"""Linking each tensor a call receives to the call that produced it.

The recorder numbers tensor objects (``Call.tensor_ids``), so a tensor the
trace met before is linked exactly: to the most recent call that output
that very tensor, or, inside a module, to the module's own input. A tensor
first met as an input was made where nothing was recorded (between modules
with ``ops=False``, before the trace began) or the trace has no identities
(an old JSON file); it is matched by metadata as before: the most recent
tensor of the same scope (earlier outputs of the sibling calls, then the
inputs of the enclosing module, then outer scopes) with the same shape,
stride, dtype and device. Stride tells most views apart.

Parameters, buffers and tensors kept from an earlier forward have no
producer in the trace. ``render/graph/links.py`` shows these links to the
graph, from outside the modules.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice

from shapetrace.analyze.lineage.atoms import COPIES, Atom, DimAtoms, Lineage, axes, fresh
from shapetrace.analyze.lineage.given import GivenAxes
from shapetrace.analyze.lineage.module_rules import module_lineage
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.analyze.lineage.op_rules import fallback, op_lineage
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.torch_facts import CONTAINER_TYPES
from shapetrace.core.trace import Trace

TensorKey = tuple


def tensor_key(meta: TensorMeta) -> TensorKey:
    return (meta.shape, meta.stride, meta.dtype, meta.device)


@dataclasses.dataclass(frozen=True)
class Producer:
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
    source: Producer
    lineage: Lineage
    read: bool = False
    superseded: bool = False


class _Scope:
    """The tensors visible inside one module call, in production order."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.entries: dict[TensorKey, list[_Entry]] = defaultdict(list)
        self.by_identity: dict[int, _Entry] = {}

    def add(self, key: TensorKey, entry: _Entry, identity: int | None) -> None:
        self.entries[key].append(entry)
        if identity is not None:
            self.by_identity[identity] = entry

    def holding(self, identity: int) -> _Entry | None:
        """The newest entry for that very tensor, from the nearest scope that has one."""
        scope: _Scope | None = self
        while scope is not None:
            entry = scope.by_identity.get(identity)
            if entry is not None:
                return entry
            scope = scope.parent
        return None

    def latest(self, key: TensorKey, count: int = 1) -> list[_Entry]:
        """Up to ``count`` entries alike, newest first, from the nearest scope that has one."""
        scope: _Scope | None = self
        while scope is not None:
            found = scope.entries.get(key)
            if found:
                return list(islice((entry for entry in reversed(found) if not entry.superseded), count))
            scope = scope.parent
        return []


class TraceLineage:
    """Producer links and dimension lineage of every call of a trace."""

    def __init__(self, given: frozenset[int] = frozenset()) -> None:
        self._given_ids = given  # tensors no call made (a DataLoader's): never matched by metadata
        self._inputs: dict[int, list[Lineage]] = {}
        self._outputs: dict[int, list[Lineage]] = {}
        self._sources: dict[int, list[Producer | None]] = {}
        self._consumers: dict[tuple[int, int], list[tuple[Call, int]]] = defaultdict(list)
        self._returned: dict[tuple[int, int], Producer] = {}  # a module's output -> the call inside that made it
        self._newest: dict[int, _Entry] = {}  # by identity, across scopes: a tensor kept by a module
        self._met: set[int] = set()  # the identities seen so far, in execution order
        self._guessed: set[tuple[int, int]] = set()  # (call id, input index) linked by metadata alone
        self._returned_guessed: set[tuple[int, int]] = set()  # (module call id, output index), the same
        self._guessed_ids: set[int] = set()  # tensors whose producer was found by metadata
        # Tensors with no producer in the trace that ops read, by identity: each read
        # shares one set of atoms, so ``seq[:, :-1]`` and ``seq[:, 1:]`` of a tensor
        # made before the trace began are cut from the same axes.
        self._orphans: dict[int, Lineage] = {}
        self._given = GivenAxes()  # a pass's input axes born outside the model

    # ------------------------------------------------------------- queries
    def input_lineage(self, call: Call, index: int = 0) -> Lineage:
        return self._inputs[call.id][index]

    def output_lineage(self, call: Call, index: int = 0) -> Lineage:
        return self._outputs[call.id][index]

    def source(self, call: Call, index: int = 0) -> Producer | None:
        """The producer of input ``index`` of ``call``, None when unknown."""
        return self._sources[call.id][index]

    def guessed(self, call: Call, index: int = 0) -> bool:
        """True when input ``index`` of ``call`` was linked to its source by
        metadata alone (shape, stride, dtype, device), not by tensor identity."""
        return (call.id, index) in self._guessed

    def guessed_inside(self, call: Call, index: int = 0) -> bool:
        """True when ``made_inside(call, index)`` was found by metadata alone."""
        return (call.id, index) in self._returned_guessed

    def consumers(self, call: Call, index: int = 0) -> list[tuple[Call, int]]:
        """``(call, input index)`` of each call that received that output."""
        return list(self._consumers.get((call.id, index), ()))

    def made_inside(self, call: Call, index: int = 0) -> Producer | None:
        """Which call inside module ``call`` made its output ``index``; None
        when the module made it itself (nothing inside made that tensor)."""
        return self._returned.get((call.id, index))

    def producers(self, call: Call, index: int = 0) -> Iterator[Producer]:
        """The chain of producers behind input ``index``, nearest first."""
        source = self.source(call, index)
        seen = set()
        while source is not None and not source.as_input and source.call.id not in seen:
            seen.add(source.call.id)
            yield source
            link = next((k for k, meta in enumerate(source.call.inputs) if meta.path in ("0", "")), None)
            source = self.source(source.call, link) if link is not None else None

    # ------------------------------------------------------------ building
    def outside_axis(self, atom: Atom) -> Atom:
        """The axis born outside the model (in the script's ops) that a pass's input axis
        ``atom`` stands for (lineage/given.py); ``atom`` itself for any other."""
        return self._given.outside_axis(atom)

    def outside_axes(self, dim: DimAtoms) -> set[tuple[str, int]]:
        """``axes(dim)`` with each of a pass's input axes read as the axis born outside the
        model it stands for: comparable with the axes of the script's own ops."""
        return axes(tuple(map(self._given.outside_axis, dim)))

    def given_axes(self) -> Iterator[tuple[Atom, Atom]]:
        """Each pass's input axis born outside the model, with the axis it stands for."""
        return self._given.stand_ins()

    def visit(self, call: Call, scope: _Scope) -> None:
        top = scope.parent is None
        if top and call.kind == "op":
            self._given.outside_ops.add(call.id)
        sources = self._link(call, scope)
        self._sources[call.id] = [entry.source if entry else None for entry in sources]
        ids = call.input_ids
        ins = [
            entry.lineage if entry else self._orphan(call, ids[k] if ids else None, meta, scope)
            for k, (entry, meta) in enumerate(zip(sources, call.inputs))
        ]
        if top and call.kind == "module" and self._given.outside_ops:
            ins = self._given.pass_inputs(call, ins)
        self._inputs[call.id] = ins
        for k, entry in enumerate(sources):
            if entry is not None and not entry.source.as_input:
                self._consumers[(entry.source.call.id, entry.source.index)].append((call, k))

        input_ids = call.input_ids
        self._met.update(input_ids)
        inner = _Scope(scope) if call.children else None
        if inner is not None:
            for k, meta in enumerate(call.inputs):
                inner.add(
                    tensor_key(meta),
                    _Entry(Producer(call, k, as_input=True), ins[k]),
                    input_ids[k] if input_ids else None,
                )
            for child in call.children:
                self.visit(child, inner)

        outs = self._output_lineages(call, ins, inner)
        self._outputs[call.id] = outs
        # An output indistinguishable from an input (``.to`` on the device it
        # is on, an in-place op) stands for that tensor from now on when
        # matching by metadata.
        linked = {tensor_key(e.source.meta): e for e in sources if e is not None}
        output_ids = call.output_ids
        for k, meta in enumerate(call.outputs):
            key = tensor_key(meta)
            if key in linked:
                linked[key].superseded = True
            entry = _Entry(Producer(call, k), outs[k])
            identity = output_ids[k] if output_ids else None
            scope.add(key, entry, identity)
            if identity is not None:
                self._newest[identity] = entry
                self._met.add(identity)
                self._guessed_ids.discard(identity)

    def _link(self, call: Call, scope: _Scope) -> list[_Entry | None]:
        """The entry each input matches: by identity when the trace met that
        tensor before, else by metadata.

        Inputs matched by metadata alike take distinct producers while some
        have not been read yet: an LSTM's fresh ``h_0`` and ``c_0`` are two
        tensors, while self-attention's query, key and value, already read
        once, are one tensor passed three times.
        """
        result: list[_Entry | None] = [None] * len(call.inputs)
        groups: dict[TensorKey, list[int]] = defaultdict(list)
        ids = call.input_ids
        first: dict[int, int] = {}  # identity -> its first position (a stack of 50,000 tensors: no rescans)
        for k, identity in enumerate(ids):
            first.setdefault(identity, k)
        for k, meta in enumerate(call.inputs):
            if ids and ids[k] in self._met:
                # the tensor's newest producer in sight, else anywhere (a tensor a module kept)
                result[k] = entry = scope.holding(ids[k]) or self._newest.get(ids[k])
                if entry is not None:
                    entry.read = True
                    if ids[k] in self._guessed_ids:
                        self._guessed.add((call.id, k))
            elif ids and first[ids[k]] < k:  # the same new tensor passed twice
                continue
            elif ids and ids[k] in self._given_ids:
                continue  # a DataLoader's: no call made it, whatever made a tensor alike
            else:
                groups[tensor_key(meta)].append(k)
        # A new tensor is not guessed to be one that another input of this call
        # is by identity: ``BCELoss()(pred, label)`` with a label shaped as the
        # prediction is two tensors, not the prediction twice; nor an older
        # tensor alike, when the newest is that input (the label would be wired
        # to an earlier pass's prediction).
        held = {id(entry) for k, entry in enumerate(result) if entry is not None and ids and ids[k] in self._met}
        for key, positions in groups.items():
            alike = scope.latest(key, _UNREAD_LOOKBACK)
            if not alike or id(alike[0]) in held:
                continue
            latest = [entry for entry in alike if id(entry) not in held]
            chosen = [latest[0]] * len(positions)
            if len(positions) > 1:
                unread = [entry for entry in latest if not entry.read][: len(positions)][::-1]
                chosen = chosen[: len(positions) - len(unread)] + unread
            for k, entry in zip(positions, chosen):
                result[k] = entry
                entry.read = True
                self._guessed.add((call.id, k))
        for k, identity in enumerate(ids):
            if identity in self._met:
                continue
            entry = result[k]
            if entry is None and first[identity] < k:
                result[k] = result[first[identity]]
                if (call.id, first[identity]) in self._guessed:
                    self._guessed.add((call.id, k))
            elif entry is not None:  # later reads of this tensor take the same producer
                scope.by_identity[identity] = self._newest[identity] = entry
                if (call.id, k) in self._guessed:
                    self._guessed_ids.add(identity)
        return result

    def _orphan(self, call: Call, identity: int | None, meta: TensorMeta, scope: _Scope) -> Lineage:
        """The atoms of an input without a producer (its tensor's ``identity``), shared by
        every op that reads that tensor, and by a module call reading it after one did (a
        DataLoader's ``tokens`` passed to the model, after ``tokens != PAD`` made its mask)."""
        lineage = self._orphans.get(identity) if identity is not None else None
        if lineage is not None and len(lineage) == meta.ndim:
            return lineage
        lineage = self._unknown(call, meta, scope)
        if identity is not None and call.kind == "op":
            self._orphans[identity] = lineage
        return lineage

    @staticmethod
    def _unknown(call: Call, meta: TensorMeta, scope: _Scope) -> Lineage:
        """New atoms for a tensor without a producer: a model input, a parameter."""
        where = "input" if scope.parent is None and call.kind == "module" else "unknown"
        return fresh(f"{where}#{call.id}[{meta.path}]", meta.shape)

    def _output_lineages(self, call: Call, ins: list[Lineage], inner: _Scope | None) -> list[Lineage]:
        if call.kind == "op":
            return self._rejoined(call) or op_lineage(call, ins)
        found = self._made_inside(call, inner) if inner is not None else []
        # A user's module (or a Sequential) returns what its children made;
        # a built-in module's inner ops (ops="all") do not show all it did: its rule decides.
        traced = call.defined_at is not None or call.type in CONTAINER_TYPES
        if traced and inner is not None and all(found):
            return [entry.lineage for entry in found]  # type: ignore[union-attr]
        return module_lineage(call, ins) or fallback(call, ins)

    def _rejoined(self, call: Call) -> list[Lineage] | None:
        """``torch.cat(x.split(d, dim=s), dim=a)``: the pieces of axis s, all of them in
        order, joined along another axis a. Axis s keeps its minor piece (d) and axis a
        gains its major piece (how many), outermost: the lineage of
        ``x.unflatten(s, (n, d))`` moved to the front of a and merged with it (heads folded
        into the batch, head-major). None for any other join."""
        if call.name not in ("cat", "concat", "concatenate") or len(call.inputs) < 2 or call.output is None:
            return None
        made = self._sources[call.id]
        copied = self._copies(call, made)
        if copied is not None:
            return copied
        splitter = made[0].call if made[0] is not None and not made[0].as_input else None
        if (
            splitter is None
            or splitter.name not in ("split", "chunk")
            or len(made) != len(splitter.outputs)
            or any(m is None or m.as_input or m.call is not splitter or m.index != k for k, m in enumerate(made))
        ):
            return None
        whole = self._inputs[splitter.id][0]
        s = axis_of(argument(splitter, 1, "dim", 0), len(whole))  # split(size, dim), chunk(chunks, dim)
        a = axis_of(argument(call, 1, "dim", 0), len(whole))
        piece = call.inputs[0].shape[s] if s is not None else 0
        if s is None or a is None or s == a or len(whole[s]) != 1 or any(m.shape[s] != piece for m in call.inputs):
            return None
        atom = whole[s][0]
        pieces = atom.size // piece
        major = Atom(atom.origin, pieces, atom.stride * piece)
        out = list(self._inputs[call.id][0])
        out[s] = (Atom(atom.origin, piece, atom.stride),)
        out[a] = (major, *out[a])
        return [tuple(out)]

    def _copies(self, call: Call, made: list[Producer | None]) -> list[Lineage] | None:
        """``torch.cat([mask] * H, dim=0)``: one tensor joined with itself, whole copies of it
        along that axis, outermost (as ``mask.repeat(H, 1, 1)``)."""
        ids = call.input_ids  # (one tensor object each time: one producer)
        if made[0] is None or not ids or len(set(ids)) != 1:
            return None
        lineage = self._inputs[call.id][0]
        axis = axis_of(argument(call, 1, "dim", 0), len(lineage))
        if axis is None:
            return None
        out = list(lineage)
        out[axis] = (Atom(f"{COPIES}{call.id}:{axis}", len(call.inputs)), *lineage[axis])
        return [tuple(out)]

    def _made_inside(self, call: Call, inner: _Scope) -> list[_Entry | None]:
        """The entry each output of a module is, of the tensors seen inside it."""
        found: list[_Entry | None] = []
        ids = call.output_ids
        for k, meta in enumerate(call.outputs):
            guessed = not (ids and ids[k] in self._met)
            if not guessed:
                entry = inner.holding(ids[k])
            else:
                alike = inner.latest(tensor_key(meta))
                entry = alike[0] if alike else None
            found.append(entry)
            if entry is not None and not entry.source.as_input and _inside(entry.source.call, call):
                self._returned[(call.id, k)] = entry.source
                if guessed:
                    self._returned_guessed.add((call.id, k))
        return found


def _inside(call: Call, module: Call) -> bool:
    while call.parent is not None:
        call = call.parent
        if call is module:
            return True
    return False


_CACHE: dict[int, tuple[tuple[Call, ...], frozenset[int], TraceLineage]] = {}


def analyze(calls: tuple[Call, ...], given: frozenset[int] = frozenset()) -> TraceLineage:
    """The data flow of a trace's calls (cached for the last trace analysed); ``given``:
    the numbers (``Call.tensor_ids``) of tensors no call made, a DataLoader's batch, never
    taken by their metadata for another call's output (``trace_lineage``)."""
    cached = _CACHE.get(id(calls))
    if cached is not None and cached[0] is calls and cached[1] == given:
        return cached[2]
    flow = TraceLineage(given)
    top = _Scope()
    for call in calls:
        if call.parent is None:
            flow.visit(call, top)
    _CACHE.clear()  # one trace at a time: checks run back to back on it
    _CACHE[id(calls)] = (calls, given, flow)
    return flow


def trace_lineage(trace: Trace) -> TraceLineage:
    """``analyze`` of a trace's calls, the tensors its DataLoaders yielded given
    (``run_info["fetched_tensors"]``): a batch of int64 lengths (8,) is no ``arange(8)``
    made before it, though its metadata is the same."""
    fetched = trace.run_info.get("fetched_tensors")
    return analyze(trace.calls, frozenset(fetched) if isinstance(fetched, list) else frozenset())
