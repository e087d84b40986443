"""Positional tables added to the input of an attention layer.

A transformer knows positions only through what is added to its input: a table
(a buffer, a parameter, an embedding of ``arange``) that varies along the sequence
and is the same for every sample. By lineage, the table's varying dim is made of
atoms born in the model (none from the data), and it lines up, once broadcast,
with one axis of the layer's input while the table has size 1 along the other.

Which of the layer's axes it lines up with tells how the code that built it reads
the layout: along the axis the layer attends over, the code agrees with the layer;
along the layer's batch, each sample gets one position's row at every step (the
PyTorch tutorial's seq-first ``x + self.pe[:x.size(0)]`` on a batch-first ``x``:
ST017).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks._common import pass_root
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.checks._source import _parse
from shapetrace.analyze.lineage.atoms import Atom, origins
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call

_ADDS = frozenset({"add", "__add__", "__radd__", "__iadd__", "add_"})


@dataclasses.dataclass(frozen=True)
class Table:
    """``op`` adds ``table`` (its input ``index``) to the layer's input ``x``: the table
    varies along x's dim ``along`` and is 1 along x's dim ``constant``."""

    op: Call
    index: int
    along: int
    constant: int
    on_time: bool  # ``along`` is the axis the layer attends over


def _from_data(atom: Atom) -> bool:
    return atom.origin.startswith("input#")


def positional_tables(flow: TraceLineage, lay: Layout) -> Iterator[Table]:
    """Each add, before the layer in its pass, of a positional table to a tensor that
    holds the layer's batch and time axes (one atom each)."""
    for op in pass_root(lay.call).walk():
        if op.kind != "op" or op.name not in _ADDS or op.id > lay.call.id or len(op.inputs) != 2:
            continue
        for k in (0, 1):
            x, table = flow.input_lineage(op, k), flow.input_lineage(op, 1 - k)
            meta, other = op.inputs[k], op.inputs[1 - k]
            batch, time = lay.where(x)
            if batch is None or time is None or other.ndim != meta.ndim or other.shape == meta.shape:
                continue
            sizes = dict(enumerate(other.shape))
            for along, constant in ((time, batch), (batch, time)):
                varying = table[along]
                if sizes[constant] != 1 or sizes[along] != meta.shape[along] or len(varying) != 1:
                    continue
                if _from_data(varying[0]) or origins(varying) & origins(x[along]):
                    continue  # a per-sample conditioning from the data, or x's own axis
                yield Table(op, 1 - k, along, constant, along == time)


def table_edit(flow: TraceLineage, table: Table, to_dim: int) -> tuple[str, str, Call] | None:
    """``(old, new, op)``: the table's slice as written (``self.pe[:x.size(0)]``), and the
    same table cut to the length of x's dim ``to_dim`` and moved there
    (``self.pe[:x.size(1)].transpose(0, 1)``). None unless the table is a slice
    whose bound is written as a size of x (``x.size(k)``, ``x.shape[k]``, ``len(x)``)."""
    source = flow.source(table.op, table.index)
    sliced = source.call if source is not None and not source.as_input else None
    if sliced is None or sliced.name != "__getitem__" or sliced.inputs[0].ndim != sliced.outputs[0].ndim:
        return None
    # The slice as written on its line: the recorded op holds the bound's value only.
    tree = _parse(sliced.location.code) if sliced.location is not None and sliced.location.code else None
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Subscript):
            continue
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        cut = items[table.along] if table.along < len(items) else None
        if not isinstance(cut, ast.Slice) or cut.lower is not None or cut.step is not None:
            continue
        bound = _resized(cut.upper, to_dim)
        if bound is None or any(isinstance(item, ast.Slice) is False for item in items):
            continue
        items[table.along] = ast.Slice(upper=bound)
        # a new node: the parsed line is cached, and shared
        new = ast.Subscript(node.value, ast.Tuple(items, ast.Load()) if len(items) > 1 else items[0], ast.Load())
        return ast.unparse(node), f"{ast.unparse(new)}.transpose({table.along}, {to_dim})", sliced
    return None


def _resized(bound: ast.expr | None, dim: int) -> ast.expr | None:
    """``x.size(0)`` -> ``x.size(dim)``; ``x.shape[0]`` -> ``x.shape[dim]``; ``len(x)`` -> ``x.size(dim)``."""
    size = isinstance(bound, ast.Call) and isinstance(bound.func, ast.Attribute) and bound.func.attr == "size"
    if size and isinstance(bound, ast.Call) and len(bound.args) == 1 and isinstance(bound.args[0], ast.Constant):
        return ast.Call(bound.func, [ast.Constant(dim)], [])
    if isinstance(bound, ast.Subscript) and isinstance(bound.value, ast.Attribute) and bound.value.attr == "shape":
        return ast.Subscript(bound.value, ast.Constant(dim), ast.Load())
    if (
        isinstance(bound, ast.Call)
        and isinstance(bound.func, ast.Name)
        and bound.func.id == "len"
        and len(bound.args) == 1
    ):
        return ast.Call(ast.Attribute(bound.args[0], "size", ast.Load()), [ast.Constant(dim)], [])
    return None
