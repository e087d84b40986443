"""What the graph draws: boxes, clusters and edges, before any graphviz.

Module calls within ``depth`` are drawn: as a node when nothing under them
is drawn, else as a cluster around their children. Ops are nodes with
``ops=True``; otherwise a tensor passes through them and the edge says
``via .view(150, 64)``. A run of identical siblings is drawn once (the first
of them) and named ``layers.0-11 ×12``, and so are the steps of a loop
(``lstm1 ×1999``); edges between its members are left out, but for one
member's output into the next member of the same node: a loop's state,
drawn as an edge from the node to itself.

The graph never draws more than it knows: every input of a drawn call has an
edge, from its producer or, where nothing recorded made it (a parameter, a
tensor made in code the trace did not see), from a stub node that says so
(the ops drawn as where a tensor was made included: the slice of a buffer
has the buffer's stub above it); a node no edge would touch (a module
without inputs whose output only unrecorded ops read) has its outputs drawn
into such a stub; a link found by shape alone (no tensor identity) is an
``Edge`` with ``guessed``, drawn dashed. tests/test_real_graphs.py checks
this on the real-model zoo, reading the DOT back with a parser.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.trace import Trace
from shapetrace.render.graph.links import GraphLinks, GraphSource
from shapetrace.render.graph.parts import (
    Box,
    Edge,
    End,
    Origin,
    Role,
    Route,
    Unrecorded,
    data_inputs,
    grouped,
    identity,
    input_slot,
)
from shapetrace.render.sections import DataTransform, split_sections
from shapetrace.render.structure import repeated_runs, shown_children, shown_roots


class GraphPlan:
    """Boxes and edges of a trace's graph.

    >>> plan = GraphPlan(encoded, depth=2, ops=False)
    >>> [box.call.type for box in plan.boxes]
    ['TransformerEncoder']
    """

    def __init__(self, trace: Trace, *, depth: int | None = None, ops: bool = False, collapse: bool = True) -> None:
        self.depth, self.ops, self.collapse = depth, ops, collapse
        self._role: dict[int, Role] = {}
        self._drawn_as: dict[int, Call] = {}  # call id -> the drawn call standing for it
        self._members: dict[int, tuple[tuple[int, int], ...]] = {}  # (run, member) chains
        self._runs_by_first: dict[int, list[Call]] = {}
        parts = split_sections(trace)
        folded = {call.id for transform in parts.transforms for call in transform.calls}
        self.boxes = self._place([c for c in shown_roots(trace.calls, ops=ops) if c.id not in folded], ())
        # The data transforms: one node each, every call of it folded in (as the table's row).
        self.transforms = {transform.calls[0].id: transform for transform in parts.transforms}
        self.boxes += [self._place_transform(transform) for transform in parts.transforms]
        self.sections = grouped(self.boxes, parts.models, self.transforms)
        self._flow = GraphLinks(trace)
        self._resolved: dict[GraphSource, list[Route]] = {}
        self._final: dict[int, tuple[Call, dict[int, int]]] = {}
        self._sources: dict[tuple, Call] = {}  # ops drawn because they made a tensor
        self._slots: dict[tuple, set[int]] = {}  # edge key -> the inputs of its target it stands for
        self.edges = self._edges(trace)

    # ----------------------------------------------------------- placing
    def _runs(self, calls: Sequence[Call]) -> list[list[Call]]:
        if self.collapse:
            return repeated_runs(calls, ops=self.ops, depth=self.depth)
        return [[call] for call in calls]

    def _place(self, calls: Sequence[Call], chain: tuple[tuple[int, int], ...]) -> list[Box]:
        boxes = []
        for run in self._runs(calls):
            first = run[0]
            children = shown_children(first, ops=self.ops, depth=self.depth)
            for member_index, member in enumerate(run):
                self._map_member(member, first, (*chain, (first.id, member_index)))
            box = Box(first, run)
            self._runs_by_first[first.id] = run
            if children:
                box.children = self._place(children, (*chain, (first.id, 0)))
            boxes.append(box)
        return boxes

    def _place_transform(self, transform: DataTransform) -> Box:
        """One node for a data transform: each recorded call of it (one per input
        signature) stands for the first, and the calls inside them are inside it."""
        first, run = transform.calls[0], list(transform.calls)
        for member_index, member in enumerate(run):
            self._role[member.id] = "node"
            self._drawn_as[member.id] = first
            self._members[member.id] = ((first.id, member_index),)
        self._runs_by_first[first.id] = run
        return Box(first, run)

    def _map_member(self, member: Call, first: Call, chain: tuple[tuple[int, int], ...]) -> None:
        """Let ``member`` and its shown calls stand for ``first`` and its own.
        (A call may be mapped twice: to its counterpart in a run's first
        member, then, there, to the first of a run inside; ``_standing``
        follows such chains.)"""
        pairs = zip(self._shown_walk(member), self._shown_walk(first))
        for call, counterpart in pairs:
            has_children = bool(shown_children(call, ops=self.ops, depth=self.depth))
            self._role[call.id] = "cluster" if has_children else "node"
            self._drawn_as[call.id] = counterpart
            self._members[call.id] = chain

    def _shown_walk(self, call: Call) -> list[Call]:
        walk = [call]
        for child in shown_children(call, ops=self.ops, depth=self.depth):
            walk += self._shown_walk(child)
        return walk

    def named_by(self, end: End) -> tuple[Call, str]:
        """The call and input path whose name a graph input takes: a tensor made
        at the top level (``torch.randn`` in the traced block) is named as the
        first top-level call it went into names it (``src``, ``input_ids``)."""
        if end.made:
            for consumer, index in self._flow.consumers(end.call, end.path):
                if consumer.parent is None and consumer.kind == "module":
                    return consumer, consumer.inputs[index].path
        return end.call, end.path

    def run_of(self, call: Call) -> list[Call]:
        """The calls a drawn call stands for at its own level (its run)."""
        return self._runs_by_first.get(call.id, [call])

    def role(self, call: Call) -> Role:
        role = self._role.get(call.id)
        if role is not None:
            return role
        owner = self._owner(call)
        return "inside" if owner is not None and self._role[owner.id] == "node" else "hidden"

    def drawn(self, call: Call) -> Call:
        """The drawn call that stands for ``call`` (its node, or the first of its run)."""
        owner = self._owner(call) if self.role(call) == "inside" else call
        if owner is None or owner.id not in self._drawn_as:
            return owner if owner is not None else call
        return self._standing(owner.id)[0]

    def _standing(self, call_id: int) -> tuple[Call, dict[int, int]]:
        """The drawn call standing for a placed call, and of which runs it is
        which member (run id -> member index), through every level of folding."""
        known = self._final.get(call_id)
        if known is not None:
            return known
        counterpart, chain = self._drawn_as[call_id], dict(self._members[call_id])
        if counterpart.id != call_id:
            inner, inner_chain = self._standing(counterpart.id)
            # the counterpart's place in inner runs is this call's place too; outer runs are its own
            found = (inner, {**inner_chain, **chain})
        else:
            found = (counterpart, chain)
        self._final[call_id] = found
        return found

    def _owner(self, call: Call) -> Call | None:
        """``call`` or its nearest ancestor that the graph places."""
        found: Call | None = call
        while found is not None and found.id not in self._role:
            found = found.parent
        return found

    # ------------------------------------------------------------- edges
    def _edges(self, trace: Trace) -> list[Edge]:
        edges: dict[tuple, Edge] = {}
        for call in trace.calls:
            if self.role(call) != "node":
                continue
            for index, meta in enumerate(call.inputs):
                source = self._flow.input_source(call, index)
                found = self._resolve(source)
                if source is None:  # nothing recorded made it: say so rather than leave it out
                    found = [Route(Unrecorded(self.drawn(call), meta.path), (), False, meta)]
                for route in found:
                    self._add(edges, route, call, meta, input_slot(call, index))
        for call in trace.calls:
            if call.parent_id is None and self.role(call) in ("node", "cluster"):
                for meta in call.outputs:
                    if not self._flow.is_read(call, meta.path):
                        target = End(call, meta.path, is_input=False)
                        for route in self._resolve(GraphSource(call, meta.path)):
                            self._add(edges, route, target, meta)
        self._source_inputs(edges)
        self._unread_outputs(edges)
        return list(edges.values())

    def _unread_outputs(self, edges: dict[tuple, Edge]) -> None:
        """A node no edge touches (a module without inputs whose output only
        unrecorded ops read: Swin's ``relative_position_bias`` traced with
        ops off) gets its outputs drawn into a "not recorded" stub, not left
        floating."""
        touched = {id(end) for edge in edges.values() for end in (edge.origin, edge.target) if isinstance(end, Call)}
        for call in self._node_calls(self.boxes):
            if id(call) not in touched:
                for meta in call.outputs:
                    stub = Unrecorded(call, meta.path, read=True)
                    edges[(id(call), stub, -1, meta.shape, meta.dtype, meta.device)] = Edge(
                        call, stub, meta, start=meta
                    )

    def _node_calls(self, boxes: Sequence[Box]) -> list[Call]:
        found = []
        for box in boxes:
            found += self._node_calls(box.children) if box.children else [box.call]
        return found

    def _source_inputs(self, edges: dict[tuple, Edge]) -> None:
        """Edges into the ops drawn because they made a tensor (``_canonical``):
        ``position_ids.expand(2, 7)`` of a buffer is drawn with the buffer's
        "not recorded" stub above it, not as a node with an input from nowhere."""
        done: set[int] = set()
        while True:
            pending = [
                edge.origin
                for edge in edges.values()
                if isinstance(edge.origin, Call) and edge.origin.id not in done and self.role(edge.origin) == "hidden"
            ]
            if not pending:
                return
            for op in pending:
                done.add(op.id)
                for index, meta in enumerate(op.inputs):
                    source = self._flow.input_source(op, index)
                    routes = self._resolve(source) if source is not None else []
                    if not routes:
                        routes = [Route(Unrecorded(op, meta.path), (), False, meta)]
                    for route in routes:
                        self._add_source_input(edges, route, op, meta, input_slot(op, index))

    def _add_source_input(self, edges: dict[tuple, Edge], route: Route, op: Call, meta: TensorMeta, slot: int) -> None:
        origin = self._canonical(route.origin) if isinstance(route.origin, Call) else route.origin
        if origin is op:
            return
        key = (identity(origin), identity(op), slot, meta.shape, meta.dtype, meta.device)
        edges.setdefault(key, Edge(origin, op, meta, route.via, route.guessed, False, route.start))

    def _add(
        self, edges: dict[tuple, Edge], route: Route, target: Call | End, meta: TensorMeta, slot: int = -1
    ) -> None:
        """The edge of ``route`` into ``target``'s input ``slot`` (``_slot``; -1 for
        a graph output): one per origin, input and tensor kind, so a run's members
        share their edges and two inputs alike from one origin get one each."""
        origin, via, guessed = route.origin, route.via, route.guessed
        loop = folded = False
        if isinstance(origin, Call):
            folded = self._steps_into(origin, target)
            across = isinstance(target, Call) and self._across_members(origin, target)
            origin = self._canonical(origin)
            if across:
                # Only a step's state into the next step of the same node is drawn (a loop);
                # block k into block k+1 of a folded stack is what the fold stands for.
                if origin is not self.drawn(target):  # type: ignore[arg-type]
                    return
                loop, folded = True, False
        if isinstance(target, Call):
            target = self.drawn(target)
            if origin is target and not loop:
                return
        # The steps of a folded run drawn as one node feed their target as one edge that
        # counts them (``59 × (5, 1)`` into ``cat(outputs)``), not one edge per step; one
        # step's outputs (an LSTMCell's h and c) stay an edge each.
        made = route.start.path if route.start is not None else None
        where = ("steps", made) if folded else slot
        key = (identity(origin), identity(target), where, meta.shape, meta.dtype, meta.device)
        edge = edges.get(key)
        if edge is None:
            edges[key] = Edge(origin, target, meta, via, guessed, loop, route.start)
            self._slots[key] = {slot}
            return
        if folded and slot not in self._slots[key]:
            self._slots[key].add(slot)
            edge = edges[key] = dataclasses.replace(edge, count=len(self._slots[key]))
        if edge.guessed and not guessed:  # an exact link stands for a guessed one alike
            edges[key] = dataclasses.replace(edge, guessed=False)

    def _steps_into(self, origin: Call, target: Call | End) -> bool:
        """True when ``origin`` is one step of a folded run (a loop's steps, a stack of
        blocks alike) that ``target`` is outside of: every step's output reaches it."""
        target_runs = self._chain(target) if isinstance(target, Call) else {}
        return any(
            len(self._runs_by_first.get(run_id, ())) > 1 and run_id not in target_runs for run_id in self._chain(origin)
        )

    def _canonical(self, call: Call) -> Call:
        """The drawn call for ``call``; one node for an op that made a tensor
        the same way in every member of a folded run."""
        if self.role(call) != "hidden":
            return self.drawn(call)
        parent = self.drawn(call.parent) if call.parent is not None else None
        key = (identity(parent), call.location, call.name, tuple(m.shape for m in call.outputs))
        return self._sources.setdefault(key, call)

    def _across_members(self, origin: Call, target: Call) -> bool:
        """True for an edge between two members of one folded run."""
        origin_runs = self._chain(origin)
        target_runs = self._chain(target)
        return any(run_id in origin_runs and origin_runs[run_id] != member for run_id, member in target_runs.items())

    def _chain(self, call: Call) -> dict[int, int]:
        owner = self._owner(call)
        return self._standing(owner.id)[1] if owner is not None else {}

    def _resolve(self, source: GraphSource | None) -> list[Route]:
        """The drawn origins a tensor came from, with the hidden ops between,
        whether a link on the way was guessed from metadata, and the tensor
        as it left the origin."""
        if source is None:
            return []
        if source.is_input:
            end = End(source.call, source.path, is_input=True)
            return [Route(end, (), source.guessed, source.call.input_at(source.path))]
        known = self._resolved.get(source)
        if known is None:
            self._resolved[source] = []  # a cycle cannot happen; this guards it anyway
            known = self._resolved[source] = self._resolve_new(source)
        return known

    def _resolve_new(self, source: GraphSource) -> list[Route]:
        call, guessed = source.call, source.guessed
        made = call.output_at(source.path)
        role = self.role(call)
        if role in ("node", "inside"):
            return [Route(call, (), guessed, made)]
        if role == "cluster":
            inner = self._flow.return_source(call, source.path)
            if inner is None:
                return [Route(call, (), guessed, made)]
            return [route._replace(guessed=guessed or route.guessed) for route in self._resolve(inner)]
        # A hidden op: follow its inputs, or draw it as where the tensor was made.
        found = [
            Route(route.origin, (*route.via, call), guessed or route.guessed, route.start)
            for index in data_inputs(call)
            for route in self._resolve(self._flow.input_source(call, index))
        ]
        if not found:  # it made the tensor from nothing recorded (torch.randn, a parameter's view)
            origin: Origin = End(call, source.path, is_input=True, made=True) if call.parent_id is None else call
            return [Route(origin, (), guessed, made)]
        return list(dict.fromkeys(found))  # x * x reaches x twice
