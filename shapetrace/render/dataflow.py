"""Which call fed which.

The recorder numbers tensor objects (``Call.tensor_ids``): a call's input
that the trace met before comes from the most recent call that output that
very tensor (a residual ``x + f(x)`` gets its skip edge). A tensor first
met as an input was made where nothing was recorded (an op between modules
with ``ops=False``), or the trace has no identities (an old JSON file): it
is matched by metadata, to the most recent earlier output with the same
shape, dtype, device and stride (a view shares shape but not always stride,
which keeps views apart). Two rules refine that match:

- A module's outputs come from inside it: the most recent matching output of
  one of its own calls, else the module itself made them (an LSTM's h_n is not
  the h_0 it was given, though both are (5, 5, 64)).
- When one call takes several inputs with the same metadata, each takes a
  different producer as long as some have not been read by anyone yet: two
  fresh tensors of one shape passed together are two arguments (an LSTM's h_0
  and c_0), while a tensor already read once is likely passed again
  (self-attention's query, key and value).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterator, Sequence

from ..meta import TensorMeta
from ..records import Call

# How far back to look for a tensor nobody has read yet.
_FRESH_LOOKBACK = 64


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a tensor came from: output ``path`` of ``call``, or, with
    ``is_input``, input ``path`` of the top-level ``call`` (a graph input)."""

    call: Call
    path: str
    is_input: bool = False


def tensor_key(meta: TensorMeta) -> Hashable:
    return (meta.shape, meta.dtype, meta.device, meta.stride)


class Dataflow:
    """Producer of every call input and every module output of a trace.

    >>> flow = Dataflow(trace.calls)
    >>> flow.input_source(trace["linear"], 0).call.name     # the op before it
    'view'
    """

    def __init__(self, calls: Sequence[Call]) -> None:
        self._inputs: dict[tuple[int, int], Source] = {}
        self._returns: dict[tuple[int, str], Source] = {}
        self._made: dict[Hashable, list[Source]] = {}
        self._made_by_id: dict[int, Source] = {}  # the newest producer of each tensor
        self._met: set[int] = set()  # the identities seen so far
        self._read: set[Source] = set()
        self._position = {call.id: i for i, call in enumerate(calls)}
        self._end = _subtree_ends(calls, self._position)
        for _, step, call in sorted(self._events(calls), key=lambda event: event[0]):
            if step == "read":
                self._match_inputs(call)
            elif step == "return":
                self._match_returns(call)
            else:
                self._record_outputs(call)

    # ----------------------------------------------------------- queries
    def input_source(self, call: Call, index: int) -> Source | None:
        """Where input ``index`` of ``call`` came from; None when unknown
        (a parameter, or a tensor made where nothing was recorded)."""
        return self._inputs.get((call.id, index))

    def return_source(self, call: Call, path: str) -> Source | None:
        """Which of a module's own calls made its output ``path``; None when
        the module made it itself (nothing inside produced that tensor)."""
        return self._returns.get((call.id, path))

    def is_read(self, call: Call, path: str) -> bool:
        """True when some later call took output ``path`` of ``call``."""
        return Source(call, path) in self._read

    # ---------------------------------------------------------- matching
    def _events(self, calls: Sequence[Call]) -> Iterator[tuple[tuple[int, int, int, int], str, Call]]:
        """(time, step, call) for every read, module return and output.

        A module reads its inputs before its children run and returns after
        them; nested modules ending together return innermost first.
        """
        for call in calls:
            position = self._position[call.id]
            yield (position, 0, 0, 0), "read", call
            if call.kind == "op":
                yield (position, 1, 0, 0), "made", call
            else:
                end = self._end[call.id]
                yield (end, 2, -call.depth, 0), "return", call
                yield (end, 2, -call.depth, 1), "made", call

    def _candidates(self, meta: TensorMeta) -> list[Source]:
        return self._made.get(tensor_key(meta), [])

    def _match_inputs(self, call: Call) -> None:
        by_key: dict[Hashable, list[int]] = {}
        ids = call.input_ids
        for index, meta in enumerate(call.inputs):
            if ids and ids[index] in self._met:
                self._link_input(call, index, self._made_by_id.get(ids[index]))
            elif not (ids and ids[index] in ids[:index]):  # the same new tensor passed twice: below
                by_key.setdefault(tensor_key(meta), []).append(index)
        for indices in by_key.values():
            candidates = self._candidates(call.inputs[indices[0]])
            if not candidates and call.parent_id is None:  # made before the trace began
                candidates = [Source(call, call.inputs[i].path, is_input=True) for i in indices]
                self._made[tensor_key(call.inputs[indices[0]])] = list(candidates)
                if ids:
                    self._made_by_id.update((ids[i], source) for i, source in zip(indices, candidates))
            for index, source in zip(indices, self._pick(candidates, len(indices))):
                self._link_input(call, index, source)
                if ids:  # later reads of this tensor take the same producer
                    self._made_by_id[ids[index]] = source
        for index, identity in enumerate(ids):
            if identity in ids[:index] and (call.id, index) not in self._inputs:
                self._link_input(call, index, self._inputs.get((call.id, ids.index(identity))))
        self._met.update(ids)

    def _link_input(self, call: Call, index: int, source: Source | None) -> None:
        if source is not None:
            self._inputs[(call.id, index)] = source
            self._read.add(source)

    def _pick(self, candidates: list[Source], count: int) -> list[Source]:
        """``count`` producers for inputs alike, in argument order."""
        if not candidates:
            return []
        latest = candidates[-1]
        if count == 1:
            return [latest]
        fresh = [c for c in candidates[-_FRESH_LOOKBACK:] if c not in self._read][::-1][:count]
        # The newest fresh tensor goes to the last argument: arguments are
        # usually made in the order they are passed.
        picked = [latest] * (count - len(fresh)) + fresh[::-1]
        return picked

    def _match_returns(self, call: Call) -> None:
        first, last = self._position[call.id], self._end[call.id]
        ids = call.output_ids
        for index, meta in enumerate(call.outputs):
            if ids and ids[index] in self._met:
                made = self._made_by_id.get(ids[index])
                candidates = [made] if made is not None else []
            else:
                candidates = self._candidates(meta)
            inside = [s for s in candidates if first < self._position[s.call.id] <= last and not s.is_input]
            if inside:
                self._returns[(call.id, meta.path)] = inside[-1]
                self._read.add(inside[-1])

    def _record_outputs(self, call: Call) -> None:
        ids = call.output_ids
        for index, meta in enumerate(call.outputs):
            source = Source(call, meta.path)
            self._made.setdefault(tensor_key(meta), []).append(source)
            if ids:
                self._made_by_id[ids[index]] = source
                self._met.add(ids[index])


def _subtree_ends(calls: Sequence[Call], position: dict[int, int]) -> dict[int, int]:
    """Position of the last call under each call (itself for a leaf)."""
    end = {call.id: position[call.id] for call in calls}
    for call in reversed(calls):
        if call.parent_id is not None and call.parent_id in end:
            end[call.parent_id] = max(end[call.parent_id], end[call.id])
    return end
