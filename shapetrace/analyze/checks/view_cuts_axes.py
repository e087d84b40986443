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
from shapetrace.analyze.lineage.atoms import Atom, regroup
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
        if found is not None:
            yield found
