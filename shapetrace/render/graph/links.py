"""Which call fed which, as the graph draws it.

The links are those of ``lineage/flow.py`` (exact by tensor identity, by
metadata where a tensor was made where nothing was recorded), seen from
outside the modules: there a tensor a module received is "input k of the
module"; the graph follows such a link up to the call that made the tensor,
or to a graph input when a top-level call received it.
"""

from __future__ import annotations

import dataclasses

from shapetrace.analyze.lineage import flow as lineage_flow
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class GraphSource:
    """Where a tensor came from: output ``path`` of ``call``, or, with
    ``is_input``, input ``path`` of the top-level ``call`` (a graph input).
    ``guessed``: some link on the way was found by metadata alone (a tensor
    made where nothing was recorded, matched by shape, stride, dtype, device)."""

    call: Call
    path: str
    is_input: bool = False
    guessed: bool = False


class GraphLinks:
    """Producer of every call input and every module output of a trace.

    >>> flow = GraphLinks(trace)
    >>> flow.input_source(trace["linear"], 0).call.name     # the op before it
    'view'
    """

    def __init__(self, trace: Trace) -> None:
        self._flow = lineage_flow.trace_lineage(trace)
        self._graph_inputs: dict[object, GraphSource] = {}  # one node per tensor given to the top-level calls

    def input_source(self, call: Call, index: int) -> GraphSource | None:
        """Where input ``index`` of ``call`` came from; None when unknown
        (a parameter, or a tensor made where nothing was recorded)."""
        source = self._flow.source(call, index)
        guessed = self._flow.guessed(call, index)
        while source is not None and source.as_input:
            call, index = source.call, source.index
            source = self._flow.source(call, index)
            guessed = guessed or self._flow.guessed(call, index)
        if source is not None:
            return GraphSource(source.call, source.meta.path, guessed=guessed)
        if call.parent is not None:
            return None
        found = self._graph_input(call, index)
        return dataclasses.replace(found, guessed=True) if guessed else found

    def return_source(self, call: Call, path: str) -> GraphSource | None:
        """Which of a module's own calls made its output ``path``; None when
        the module made it itself (nothing inside produced that tensor)."""
        index = _index(call, path)
        made = self._flow.made_inside(call, index)
        return (
            None
            if made is None
            else GraphSource(made.call, made.meta.path, guessed=self._flow.guessed_inside(call, index))
        )

    def consumers(self, call: Call, path: str) -> list[tuple[Call, int]]:
        """``(call, input index)`` of each call that took output ``path`` of ``call``."""
        return self._flow.consumers(call, _index(call, path))

    def is_read(self, call: Call, path: str) -> bool:
        """True when some later call took output ``path`` of ``call``, or
        the module around it returned it."""
        index = _index(call, path)
        if self._flow.consumers(call, index):
            return True
        parent = call.parent
        return parent is not None and any(
            (made := self._flow.made_inside(parent, k)) is not None and made.call is call and made.index == index
            for k in range(len(parent.outputs))
        )

    def _graph_input(self, call: Call, index: int) -> GraphSource:
        ids = call.input_ids
        key = ids[index] if ids else (call.id, index)
        return self._graph_inputs.setdefault(key, GraphSource(call, call.inputs[index].path, is_input=True))


def _index(call: Call, path: str) -> int:
    return next(k for k, meta in enumerate(call.outputs) if meta.path == path)
