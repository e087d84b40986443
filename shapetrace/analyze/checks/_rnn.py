"""What the checks need to know about recurrent module calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from shapetrace.analyze.checks._common import pass_root
from shapetrace.analyze.lineage.atoms import DimAtoms, Lineage, axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.torch_facts import CELL_TYPES, HIDDEN_STATE_PATHS, RNN_TYPES


def is_rnn(call: Call) -> bool:
    return is_builtin(call) and call.type in RNN_TYPES


def is_cell(call: Call) -> bool:
    """An ``nn.RNNCell``/``GRUCell``/``LSTMCell`` call: one step, input (batch, features), hx (batch, hidden)."""
    return is_builtin(call) and call.type in CELL_TYPES


def batch_axis(call: Call) -> tuple[int, int] | None:
    """``(ndim, dim)``: the batched input's rank and its batch dim, for an RNN (by
    ``batch_first``) or a cell ((batch, features)); None for other calls."""
    if is_cell(call):
        return 2, 0
    if is_rnn(call):
        return 3, 0 if call.config.get("batch_first") else 1
    return None


def rnn_input(call: Call) -> TensorMeta | None:
    return call.input_at("0") or call.input_at("input")


def hidden_inputs(call: Call) -> list[TensorMeta]:
    """h_0 (and c_0 for an LSTM), as passed."""
    return [meta for meta in call.inputs if meta.path in HIDDEN_STATE_PATHS]


def directions(call: Call) -> int:
    return 2 if call.config.get("bidirectional") else 1


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a batched RNN (or attention, ``_attention.py``) call keeps batch and
    time (the sequence), by its ``batch_first``."""

    call: Call
    input: TensorMeta
    batch_dim: int
    batch: DimAtoms
    time: DimAtoms

    @property
    def time_dim(self) -> int:
        return 1 - self.batch_dim

    @property
    def batch_size(self) -> int:
        return self.input.shape[self.batch_dim]

    @property
    def steps(self) -> int:
        return self.input.shape[self.time_dim]

    def where(self, lineage: Lineage) -> tuple[int | None, int | None]:
        """The positions of the batch and of the time axis in ``lineage`` (each a dim made
        of exactly those axes, sliced or not; pieces of one split axis told apart by their
        strides), None where there is none."""
        batch, time = axes(self.batch), axes(self.time)
        at = [axes(dim) for dim in lineage]
        return (at.index(batch) if batch in at else None), (at.index(time) if time in at else None)

    @property
    def verb(self) -> str:
        """What the layer does along its time axis: an attention layer attends over it."""
        return "steps through" if is_rnn(self.call) else "attends over"


def both_directions_hint(rnn: Call, output: str, time_dim: int) -> str:
    """The help for reading a bidirectional RNN's "last step" from its output
    ``output`` (time at ``time_dim``): the last step holds the backward direction's
    first (PyTorch runs it from the end), so the final states of both directions, or
    the forward half at the last step."""
    hidden = rnn.config.get("hidden_size", "hidden_size")
    last = "[:, -1, " if time_dim == 1 else "[-1, :, "
    return (
        f"use torch.cat([h_n[-2], h_n[-1]], dim=-1): the final forward and backward states; "
        f"or the forward half alone, {output}{last}:{hidden}]"
    )


def ops_after(flow: TraceLineage, lay: Layout) -> Iterator[tuple[Call, Lineage]]:
    """The ops of the same forward pass after the RNN call, with the lineage of
    the tensor each works on."""
    for op in pass_root(lay.call).walk():
        if op.kind == "op" and op.id > lay.call.id and op.inputs:
            yield op, flow.input_lineage(op, 0)


def layout(flow: TraceLineage, call: Call) -> Layout | None:
    """The layout of an RNN call on a 3-d input whose batch and time are one axis each."""
    meta = rnn_input(call)
    if not is_rnn(call) or meta is None or meta.ndim != 3:
        return None
    lineage = flow.input_lineage(call, call.inputs.index(meta))
    batch_dim = 0 if call.config.get("batch_first") else 1
    batch, time = lineage[batch_dim], lineage[1 - batch_dim]
    if len(batch) != 1 or len(time) != 1:
        return None
    return Layout(call, meta, batch_dim, batch, time)


def first_layouts(flow: TraceLineage, calls: Sequence[Call]) -> Iterator[Layout]:
    """The layout of the first call of each RNN in each forward pass: a loop
    calling one RNN again and again repeats the same evidence."""
    seen: set[tuple[int, str]] = set()
    for call in calls:
        if not is_rnn(call):
            continue
        key = (pass_root(call).id, call.name)
        lay = layout(flow, call) if key not in seen else None
        seen.add(key)
        if lay is not None:
            yield lay
