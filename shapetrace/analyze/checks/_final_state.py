"""Which rows of a bidirectional RNN's final state the code reads (ST006).

``h_n`` (and an LSTM's ``c_n``) is (num_layers * 2, batch, hidden), layer by layer
and, in each layer, forward then backward: row ``2 * l + d`` is layer ``l``'s
direction ``d``, so ``h_n[-1]`` is the last layer's BACKWARD direction alone.
Rows are followed through views that split that axis (``h_n.view(2, num_layers,
batch, hidden)`` keeps memory order: a piece of the axis per dim, each with its
stride), so a split in the wrong order, read as (direction, layer), is seen
picking two rows of one direction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from shapetrace.analyze.checks._common import pass_root, receiver_text
from shapetrace.analyze.lineage.atoms import Atom, Lineage
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import integer_indices
from shapetrace.core.records import Call


def _exact_rows(pieces: dict[int, Atom], picked: dict[int, int], rows: int) -> set[int] | None:
    """The rows an index picks when the input holds every piece of the axis (each
    row a distinct combination of piece positions) and the index fixes each: one
    row; None when the rows cannot be told (a piece sliced or picked earlier)."""
    if set(picked) != set(pieces):
        return None
    spots = {tuple((row // atom.stride) % atom.size for atom in pieces.values()) for row in range(rows)}
    if len(spots) != rows:
        return None
    return {
        row
        for row in range(rows)
        if all((row // atom.stride) % atom.size == picked[dim] % atom.size for dim, atom in pieces.items())
    }


def _reading(flow: TraceLineage, op: Call, origin: str, rows: int) -> set[int] | None:
    """The rows an op reads of the final state's layers axis: the exact row an
    integer index picks; every row for any other op that consumes the axis (a
    sum, a pick that cannot be told); None for an op that does not touch the
    axis or keeps it (a view, a slice: the ops after it decide)."""
    lineage: Lineage = flow.input_lineage(op, 0)
    dims = [d for d, dim in enumerate(lineage) if any(atom.origin == origin for atom in dim)]
    if not dims or not op.outputs:
        return None
    if any(atom.origin == origin for dim in flow.output_lineage(op, 0) for atom in dim):
        return None
    pieces = {d: lineage[d][0] for d in dims if len(lineage[d]) == 1}
    picked = {d: i for d, i in integer_indices(op, len(lineage)).items() if d in pieces and isinstance(i, int)}
    exact = _exact_rows(pieces, picked, rows) if len(pieces) == len(dims) else None
    return exact if exact is not None else set(range(rows))


def one_direction_picks(flow: TraceLineage, call: Call) -> Iterator[tuple[Call, int]]:
    """Ops of the pass after a bidirectional RNN ``call`` that pick one row of its
    h_n/c_n, with the row, where no op of the pass reads the other direction of
    that layer (the row's partner ``row ^ 1``)."""
    rows = 2 * int(call.config.get("num_layers", 1) or 1)
    origin = f"{call.name}:layers"
    picks: list[tuple[Call, set[int]]] = []
    for op in pass_root(call).walk():
        if op.kind == "op" and op.id > call.id and op.inputs:
            read = _reading(flow, op, origin, rows)
            if read is not None:
                picks.append((op, read))
    seen = set(itertools.chain.from_iterable(read for _, read in picks))
    for op, read in picks:
        if len(read) == 1 and (row := next(iter(read))) ^ 1 not in seen:
            yield op, row


def state_name(flow: TraceLineage, op: Call, rows: int) -> str:
    """How the code names the final state an op reads: its receiver (``h_n`` in
    ``h_n[-1]``), or, through a view that split the axis, the view's receiver."""
    for source in flow.producers(op, 0):
        made = source.call
        if made.kind == "op" and made.inputs and made.inputs[0].shape[:1] == (rows,):
            return receiver_text(made, "h_n")
    return receiver_text(op, "h_n")


__all__ = ["one_direction_picks", "state_name"]
