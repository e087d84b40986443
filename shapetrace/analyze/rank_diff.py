"""Comparing the ranks of one distributed run: the first call whose shapes differ.

Every rank of a data- or model-parallel run executes the same code, so its
calls line up with the other ranks': a module call by (name, index), an op
by its enclosing module call, its name, its line and its count there. The
first divergence is the earliest aligned call, among those that feed the
collective in question (its lineage, walked back through tensor identities),
whose shapes or dtypes differ across ranks or that some rank never made (a
branch taken on one rank only). When the ranks took different pieces of one
call's output (``torch.chunk(x, world)[rank]`` with an uneven split) that
call is named, with the piece each rank took.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.core.text import format_dims, format_location
from shapetrace.core.torch_facts import is_collective
from shapetrace.core.trace import Trace

AlignKey = tuple
SPLITS = frozenset({"chunk", "split", "tensor_split", "split_with_sizes", "unbind", "hsplit", "vsplit"})


def align_keys(trace: Trace) -> list[tuple[AlignKey, Call]]:
    """Each call with the key that names it on every rank, in execution order."""
    counts: dict[tuple, int] = {}
    keyed: list[tuple[AlignKey, Call]] = []
    for call in trace.calls:
        if call.kind == "module":
            keyed.append((("module", call.name, call.index), call))
            continue
        parent = (call.parent.name, call.parent.index) if call.parent is not None else None
        line = (call.location.filename, call.location.lineno) if call.location is not None else None
        slot = (parent, call.name, line)
        nth = counts.get(slot, 0)
        counts[slot] = nth + 1
        keyed.append((("op", *slot, nth), call))
    return keyed


def _signature(call: Call) -> tuple:
    # Devices differ by design across ranks (cuda:0, cuda:1): their type only.
    return tuple((m.path, m.shape, m.dtype, m.device.partition(":")[0]) for m in (*call.inputs, *call.outputs))


@dataclasses.dataclass(frozen=True)
class RankDivergence:
    """The first call whose shapes differ across ranks; ``calls[r]`` is rank r's (None: never made)."""

    key: AlignKey
    calls: tuple[Call | None, ...]
    shapes: tuple[str, ...]  # what each rank saw there, e.g. "(2, 4, 16)"
    kind: str  # "piece", "shape", "dtype", "missing"

    @property
    def call(self) -> Call:
        return next(c for c in self.calls if c is not None)

    def text(self) -> str:
        """``torch.chunk at model.py:8: rank 0 (2, 4, 16), rank 1 (2, 3, 16)``."""
        call = self.call
        where = format_location(call.location)
        label = call.type if call.kind == "op" else f"{call.name or 'the model'} ({call.type})"
        ranks = ", ".join(f"rank {r} {shape}" for r, shape in enumerate(self.shapes))
        return f"{label}{' at ' + where if where else ''}: {ranks}"

    @property
    def hint(self) -> str:
        call = self.call
        if self.kind == "missing":
            return "a branch taken on some ranks only: make its condition the same on every rank"
        if self.kind == "dtype":
            return "a dtype that differs by rank: cast on every rank (or on none)"
        if self.kind == "piece" or call.name in SPLITS:
            return (
                "an uneven split gives ranks different shapes: pad the axis to a multiple of the world size "
                "(F.pad) or use an even split"
            )
        if call.kind == "module" and call.parent is None:
            return (
                "a batch size that depends on the rank: give every rank the same batch "
                "(DistributedSampler(..., drop_last=True), DataLoader(..., drop_last=True), or pad the last shard)"
            )
        return "make this call's shapes the same on every rank"


def upstream_calls(trace: Trace, target: Call) -> set[int]:
    """Ids of the calls whose outputs flow into ``target``'s inputs (itself included)."""
    flow = trace_lineage(trace)
    wanted, seen = [target], {target.id}
    while wanted:
        call = wanted.pop()
        linked: list[Call] = []
        for index in range(len(call.inputs)):
            source = flow.source(call, index)
            if source is not None:
                linked.append(source.call)
        if call.kind == "module":
            for index in range(len(call.outputs)):
                inside = flow.made_inside(call, index)
                if inside is not None:
                    linked.append(inside.call)
        if call.parent is not None and not call.inputs:
            linked.append(call.parent)
        for found in linked:
            if found.id not in seen:
                seen.add(found.id)
                wanted.append(found)
    return seen


def _merged_order(keyed: Sequence[list[tuple[AlignKey, Call]]]) -> list[AlignKey]:
    """Rank 0's keys in order, with other ranks' extra keys after their predecessor."""
    order = [key for key, _ in keyed[0]]
    known = set(order)
    for ranked in keyed[1:]:
        position = -1
        for key, _ in ranked:
            if key in known:
                position = order.index(key)
                continue
            position += 1
            order.insert(position, key)
            known.add(key)
    return order


def _first_meta_difference(calls: Sequence[Call]) -> tuple[int, bool] | None:
    """(index, is_output) of the first tensor whose shape or dtype differs across ranks."""
    for outputs in (False, True):
        lists = [c.outputs if outputs else c.inputs for c in calls]
        for index in range(max(len(metas) for metas in lists)):
            metas = [metas[index] if index < len(metas) else None for metas in lists]
            if any(m is None for m in metas) or len({(m.shape, m.dtype) for m in metas if m}) > 1:
                return index, outputs
    return None


def _meta_text(meta: TensorMeta | None, with_dtype: bool) -> str:
    if meta is None:
        return "no tensor"
    return f"{format_dims(meta.shape)} {dtype_name(meta.dtype)}" if with_dtype else format_dims(meta.shape)


def _describe(key: AlignKey, calls: tuple[Call | None, ...], traces: Sequence[Trace]) -> RankDivergence:
    if any(c is None for c in calls):
        shapes = tuple(
            "not called"
            if c is None
            else format_dims(c.outputs[0].shape)
            if c.outputs
            else format_dims(c.inputs[0].shape)
            if c.inputs
            else "called"
            for c in calls
        )
        return RankDivergence(key, calls, shapes, "missing")
    made = [c for c in calls if c is not None]
    found = _first_meta_difference(made)
    index, outputs = found if found is not None else (0, False)
    metas = [(c.outputs if outputs else c.inputs) for c in made]
    picked = [m[index] if index < len(m) else None for m in metas]
    dtypes = len({m.dtype for m in picked if m is not None}) > 1
    if not outputs:
        piece = _piece_taken(made, index, traces)
        if piece is not None:
            return piece
    shapes = tuple(_meta_text(m, dtypes) for m in picked)
    return RankDivergence(key, calls, shapes, "dtype" if dtypes else "shape")


def _piece_taken(calls: Sequence[Call], index: int, traces: Sequence[Trace]) -> RankDivergence | None:
    """The ranks took different outputs of one and the same call (``chunk(...)[rank]``)."""
    sources = []
    for call, trace in zip(calls, traces):
        source = trace_lineage(trace).source(call, index)
        if source is None or source.as_input:
            return None
        sources.append(source)
    keys = [dict((id(c), k) for k, c in align_keys(trace))[id(s.call)] for s, trace in zip(sources, traces)]
    if len(set(keys)) != 1 or len({_signature(s.call) for s in sources}) != 1:
        return None
    if len({s.index for s in sources}) == 1:
        return None
    shapes = tuple(format_dims(s.meta.shape) for s in sources)
    return RankDivergence(keys[0], tuple(s.call for s in sources), shapes, "piece")


def first_divergence(traces: Sequence[Trace], targets: Sequence[Call | None] | None = None) -> RankDivergence | None:
    """The first call whose shapes differ across ranks' ``traces`` (rank order).

    ``targets``: each rank's collective that failed the check (None where a
    rank made none): only calls in their lineage count first, then any call
    before them. Without targets: the first collective whose shapes differ
    is the target. None when the ranks agree everywhere.
    """
    keyed = [align_keys(trace) for trace in traces]
    by_key = [dict(ranked) for ranked in keyed]
    order = _merged_order(keyed)
    if targets is None:
        targets = _first_differing_collective(order, by_key)
    upstream: set[AlignKey] = set()
    for trace, ranked, target in zip(traces, keyed, targets or ()):
        if target is not None:
            ids = upstream_calls(trace, target)
            upstream.update(key for key, call in ranked if call.id in ids)
    differing = [key for key in order if _differs([ranks.get(key) for ranks in by_key])]
    # A module call whose inputs agree but outputs differ is not the cause:
    # that lies inside it (or in its own computation, when nothing inside is recorded).
    causes = [key for key in differing if key[0] == "op" or _differs([ranks.get(key) for ranks in by_key], True)]
    chosen = next((key for candidates in (causes, differing) for key in candidates if key in upstream), None)
    if chosen is None:
        chosen = next(iter(causes or differing), None)
    if chosen is None:
        return None
    return _describe(chosen, tuple(ranks.get(chosen) for ranks in by_key), traces)


def _differs(calls: list[Call | None], inputs_only: bool = False) -> bool:
    if any(c is None for c in calls):
        return True
    if inputs_only:
        return len({_signature(c)[: len(c.inputs)] for c in calls if c is not None}) > 1
    return len({_signature(c) for c in calls if c is not None}) > 1


def _first_differing_collective(order: list[AlignKey], by_key: list[dict[AlignKey, Call]]) -> list[Call | None] | None:
    for key in order:
        calls = [ranks.get(key) for ranks in by_key]
        made = [c for c in calls if c is not None]
        if made and is_collective(made[0].type) and _differs(calls):
            return calls
    return None


# ------------------------------------------------------------------ reports
def _side(entry: dict[str, Any]) -> str:
    shown = entry.get("shown") or entry.get("compared") or []
    return (
        ", ".join(f"{format_dims(shape)} {dtype}" if shape is not None else str(dtype) for shape, dtype in shown)
        or "no tensor"
    )


def mismatch_report(fingerprints: list[dict[str, Any]], traces: Sequence[Trace], rank: int) -> tuple[str, str]:
    """The message and note of ``--dist-check``'s error, the same on every rank."""
    mine = fingerprints[rank]
    ops = {entry["op"] for entry in fingerprints}
    if len(ops) > 1:
        sides = "; ".join(
            f"rank {e['rank']} "
            + ("finished its script" if e["op"] == "<end>" else f"calls {e['op']} at {_short(e['at'])}")
            for e in fingerprints
        )
        message = f"the ranks are at different collectives: {sides}"
    else:
        sides = ", ".join(f"rank {e['rank']} {_side(e)}" for e in fingerprints)
        message = f"{mine['op']} at {_short(mine['at'])}: the ranks' tensors differ: {sides}"
    targets = [
        trace.calls[-1] if entry["op"] != "<end>" and trace.calls else None
        for entry, trace in zip(fingerprints, traces)
    ]
    divergence = first_divergence(traces, targets)
    lines = ["shapetrace --dist-check: stopped every rank before the collective ran"]
    if divergence is not None:
        lines.append(f"first divergence across ranks: {divergence.text()}")
        lines.append(f"help: {divergence.hint}")
    else:
        lines.append("no recorded call upstream differs across ranks (the difference comes from code not traced)")
    return message, "\n".join(lines)


def _short(at: str) -> str:
    filename, _, line = at.rpartition(":")
    return format_location_text(filename, line) if filename else at


def format_location_text(filename: str, line: str) -> str:
    from shapetrace.core.text import short_path

    return f"{short_path(filename)}:{line}"
