"""ST012 view-cuts-across-axes: a view/reshape that regroups axes out of memory order.

``view`` keeps the elements in memory order. Concatenating heads with
``(H, B, L, d).view(B, L, H * d)``, ``(B * H, L, D).view(B, L, H * D)`` or folding
time into the batch with ``(B, C, T, H, W).view(B * T, C, H, W)`` gives the right
sizes, but each output dim runs across axes that are not neighbours in memory: rows
that splice heads, samples and positions together. Dimension lineage knows the axes
each dim is made of (also through earlier merges), so equal sizes do not hide it.

ST002 covers a view whose dims are the same axes shuffled; this check, the views
that reorder *and* merge or split (a block of axes whose output sizes are not
those axes' sizes in another order). The ``help:`` permutes the axes into the order
closest to memory order that the view's sizes can group, written with the user's
own size expressions, then views; the fix is checked against the permutes and views
that follow on the same tensor.

Limits: lineage must know the axes; a tensor made where nothing was recorded (a
buffer filled in place counts as made by its ``torch.zeros``) starts with fresh
axes, one per dim, so a reshape of a flat buffer into rows of another length is
seen as splitting one axis (nothing to flag).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator, Sequence

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._axes import (
    cuts,
    downstream_clean,
    intended_order,
    label,
    source_names,
    swap_text,
)
from shapetrace.analyze.checks._common import at_line, op_text, receiver_text, view_calls, written_sizes
from shapetrace.analyze.checks._shape_names import dim_names
from shapetrace.analyze.lineage.atoms import Atom, origins, regroup
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

# Lineage gives the dims of a view's reordering block new atoms named after it.
_SCRAMBLED = tuple(f"{name}#" for name in ("view", "reshape", "view_as", "reshape_as", "flatten", "unflatten"))


def _is_shuffle(atoms: Sequence[Atom], sizes: Sequence[int]) -> bool:
    """The same axes in another order: ST002's case."""
    return sorted(a.size for a in atoms) == sorted(sizes)


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _hint(call: Call, atoms: list[Atom], order: list[int], names: dict, flow: TraceLineage) -> str | None:
    """``x.view(b, 4, length, 6).transpose(1, 2).contiguous().view(b, length, self.e)``."""
    tensor = receiver_text(call)
    natural = tuple(a.size for a in atoms)
    text = tensor
    if natural != call.inputs[0].shape:
        sizes = ", ".join(names.get((a.origin, a.stride, a.size), str(a.size)) for a in atoms)
        text += f".{'view' if call.inputs[0].contiguous else 'reshape'}({sizes})"
    text += f".{swap_text(order)}"
    args = ", ".join(written_sizes(call) or map(str, call.output.shape))  # type: ignore[union-attr]
    text += f".contiguous().view({args})" if call.name == "view" else f".reshape({args})"
    # The fix must leave what follows (a permute, a view) regrouping nothing out of order.
    fixed = regroup(tuple((a,) for a in (atoms[i] for i in order)), call.output.shape, "fix")  # type: ignore[union-attr]
    if fixed.mixed or not downstream_clean(flow, call, fixed.lineage):
        return None
    return f"use {text}"


def _check(flow: TraceLineage, trace: Trace, call: Call) -> Finding | None:
    shape = call.output.shape  # type: ignore[union-attr]
    lineage = flow.input_lineage(call, 0)
    blocks = [
        (atoms, dims)
        for atoms, dims in regroup(lineage, shape, "check").mixed
        if not _is_shuffle(atoms, [shape[d] for d in dims])
    ]
    if not blocks or any(a.origin.startswith(_SCRAMBLED) for atoms, _ in blocks for a in atoms):
        return None  # axes an earlier view already scrambled: that view's finding is the cause
    atoms = [a for dim in lineage for a in dim if a.size != 1]
    names = source_names(flow, trace.calls, call)
    # Names the view itself gives: an output dim that is one whole axis in the fixed grouping.
    order = list(range(len(atoms)))
    described = []
    for block_atoms, dims in blocks:
        sizes = [shape[d] for d in dims]
        picks = intended_order(block_atoms, sizes)
        start = atoms.index(block_atoms[0])
        if picks is not None:
            order[start : start + len(block_atoms)] = [start + i for i in picks]
    written = written_sizes(call)
    if written is not None:
        # an output dim that is one whole axis once regrouped is that axis: the view names it
        placed = regroup(tuple((atoms[i],) for i in order), shape, "named").lineage
        for dim, text in zip(placed, written):
            if len(dim) == 1 and text.strip() != "-1" and not text.isdigit():
                names[(dim[0].origin, dim[0].stride, dim[0].size)] = text
    for block_atoms, dims in blocks:
        sizes = [shape[d] for d in dims]
        for size, across in zip(sizes, cuts(block_atoms, sizes)):
            if len(across) > 1:
                described.append(f"the {size} cuts across {_and([label(block_atoms[i], names) for i in across])}")
    laid_out = " x ".join(label(a, names) for a in atoms)
    message = (
        f"{op_text(call)} {at_line(call)} makes {format_shape(call.output)} from "  # type: ignore[arg-type]
        f"{format_shape(call.inputs[0])}, whose axes are {laid_out} in memory: "
        f"{'; '.join(described)}. A view keeps memory order, so it splices those axes together "
        f"instead of regrouping them"
    )
    hint = _hint(call, atoms, order, names, flow) if order != list(range(len(atoms))) else None
    return finding("ST012", call, message, hint or "permute the axes into the order the view groups, then view")


def _names_in(text: str) -> list[str] | None:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def _named(flow: TraceLineage, call: Call) -> Finding | None:
    """A view that only merges and splits, but whose sizes are written with the names
    the function gave the tensor's own dims (``B, C, H, W = f.shape``) for other
    axes than the ones memory order puts there: ``f.view(B, H * W, C)`` with
    C == H * W. The names say what was meant; the sizes only happen to fit."""
    if call.name not in ("view", "reshape") or call.output is None:
        return None
    tensor, given = receiver_text(call), call.inputs[0].shape
    names, written = dim_names(call.location, tensor, len(given)), written_sizes(call)
    if not names or written is None:
        return None
    source, made = flow.input_lineage(call, 0), flow.output_lineage(call, 0)
    meant: list[list[int]] = []
    for size, text in zip(call.output.shape, written):
        words = _names_in(text)
        if size == 1 and not words:
            continue
        if not words or any(word not in names for word in words):
            return None  # a size the unpacking did not name: the intent is unknown
        dims = sorted({names[word] for word in words})
        if math.prod(given[d] for d in dims) != size:
            return None
        meant.append(dims)
    order = [d for dims in meant for d in dims]
    if len(set(order)) != len(order) or sorted(order) != [d for d, n in enumerate(given) if n != 1 or d in order]:
        return None
    placed = [{d for d, axes in enumerate(source) if origins(axes) & origins(dim)} for dim in made if dim]
    if placed == [set(dims) for dims in meant if math.prod(given[d] for d in dims) != 1]:
        return None
    called = {d: word for word, d in names.items()}
    said = ", ".join(f"{text} for dim {k}" for k, text in enumerate(written))
    kept = ", ".join(
        f"dim {k} is {' x '.join(called.get(d, str(given[d])) for d in sorted(dims))}"
        for k, dims in enumerate(placed)
        if dims
    )
    message = (
        f"{op_text(call)} {at_line(call)} makes {format_shape(call.output)} from {tensor} "
        f"{format_shape(call.inputs[0])}, whose dims this function names "
        f"{', '.join(sorted(names, key=names.__getitem__))}: its sizes say {said}, but a view keeps memory "
        f"order, where {kept}; the sizes fit only because they are equal"
    )
    hint = f"use {tensor}.permute({', '.join(map(str, order))}).reshape({', '.join(written)})"
    return finding("ST012", call, message, hint)


@register(
    "ST012",
    "view-cuts-across-axes",
    "warning",
    "a view/reshape whose output dims group axes out of memory order (heads concatenated by a view, "
    "time folded into the batch without a permute)",
)
def check_view_cuts_axes(trace: Trace) -> Iterator[Finding]:
    flow = analyze(trace.calls)
    for call in view_calls(trace):
        found = _check(flow, trace, call)
        if found is None and not regroup(flow.input_lineage(call, 0), call.output.shape, "check").mixed:  # type: ignore[union-attr]
            found = _named(flow, call)
        if found is not None:
            yield found
