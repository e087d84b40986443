"""Steps of sequences (ST006, ST027): which one step an op keeps, in every spelling,
and an RNN's packed output padded back by ``pad_packed_sequence``."""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument, index_items, integer_indices
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import UNPACKING_OPS
from shapetrace.core.trace import Trace


def step_index(flow: TraceLineage, op: Call, time: int, ndim: int) -> object:
    """The one step an op keeps of dim ``time``: an integer index (``out[:, -1]``,
    ``select``), ``narrow(time, start, 1)``, a length-1 slice (``out[:, -1:]``), or
    ``index_select(time, idx)`` of an ``idx`` made from one number (``torch.tensor([T - 1])``:
    its value is recorded as the creation's argument); None for none of these."""
    index = integer_indices(op, ndim).get(time)
    if index is not None or not op.outputs or op.outputs[0].ndim != ndim or op.outputs[0].shape[time] != 1:
        return index
    if op.name in ("narrow", "index_select") and argument(op, 0, "dim", None) in (time, time - ndim):
        if op.name == "narrow":
            return argument(op, 1, "start", None)
        source = flow.source(op, 1)
        made = source.call if source is not None and not source.as_input else None
        if made is not None and made.kind == "op" and made.name in ("tensor", "as_tensor", "LongTensor"):
            values = made.args[0] if made.args else None
            return values[0] if isinstance(values, (list, tuple)) and len(values) == 1 else None
    if op.name == "__getitem__":
        items = index_items(op) or []
        plain = all(isinstance(item, int) or (isinstance(item, dict) and "slice" in item) for item in items[: time + 1])
        if plain and len(items) > time and isinstance(items[time], dict):  # item k is input dim k
            start = items[time]["slice"][0] if isinstance(items[time]["slice"], (list, tuple)) else None
            return start
    return None


def unpacked_outputs(flow: TraceLineage, trace: Trace) -> Iterator[tuple[Call, Call, int]]:
    """``(unpack op, rnn, batch dim)`` for each RNN's packed output that
    ``pad_packed_sequence`` padded back to (B, T, *) (``batch_first=True``) or (T, B, *)."""
    for op in trace.calls:
        if op.kind != "op" or op.name not in UNPACKING_OPS or not op.outputs or op.outputs[0].ndim != 3:
            continue
        source = flow.source(op, 0)
        rnn = source.call if source is not None and not source.as_input else None
        if rnn is not None and is_rnn(rnn):
            first = op.args[2:3] == (True,) or op.kwargs.get("batch_first") is True
            yield op, rnn, 0 if first else 1
