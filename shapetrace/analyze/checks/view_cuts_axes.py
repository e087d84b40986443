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

Where sizes collide (heads == seq_len), a view that only merges and splits is still
found when its sizes are written with names that say otherwise: the names a function
gave the tensor's own dims (``B, C, H, W = f.shape``), or the names ``forward`` gave
the axes of its input (``batch_size, seq_len, _ = x.shape``) used for a dim of
another tensor that holds that axis elsewhere (``values.reshape(batch_size, seq_len,
heads * head_dim)`` of (batch, heads, seq_len, head_dim)). Attribute names
(``self.num_heads``) name no axis of the data: an AutoInt-style split with fields ==
heads is not seen.

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
    intended_split,
    label,
    source_names,
    swap_text,
)
from shapetrace.analyze.checks._common import at_line, op_text, receiver_text, view_calls, written_sizes
from shapetrace.analyze.checks._flatten_rows import wrong_row_length
from shapetrace.analyze.checks._loop_input import baked_loop_view
from shapetrace.analyze.checks._shape_names import argument_position, dim_names, input_dim_names
from shapetrace.analyze.checks._view_names import SIZE_OF, named_order, named_split, names_in
from shapetrace.analyze.lineage.atoms import Atom, origins, regroup
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
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
    whole = _whole_dims(flow.input_lineage(call, 0), atoms, order)
    if whole is not None:  # (B, h, N, d).transpose(1, 2), not a view into N's rows and columns first
        text += f".{swap_text(whole)}"
    else:
        if natural != call.inputs[0].shape:
            sizes = ", ".join(names.get((a.origin, a.stride, a.size), str(a.size)) for a in atoms)
            text += f".{'view' if call.inputs[0].contiguous else 'reshape'}({sizes})"
        text += f".{swap_text(order)}"
    if tuple(atoms[i].size for i in order) != call.output.shape:  # type: ignore[union-attr]  # (else no view after)
        args = ", ".join(written_sizes(call) or map(str, call.output.shape))  # type: ignore[union-attr]
        text += f".contiguous().view({args})" if call.name == "view" else f".reshape({args})"
    # The fix must leave what follows (a permute, a view) regrouping nothing out of order.
    fixed = regroup(tuple((a,) for a in (atoms[i] for i in order)), call.output.shape, "fix")  # type: ignore[union-attr]
    if fixed.mixed or not downstream_clean(flow, call, fixed.lineage):
        return None
    return f"use {text}"


def _whole_dims(lineage: tuple, atoms: Sequence[Atom], order: Sequence[int]) -> list[int] | None:
    """``order`` (of the axes) as an order of the tensor's own dims, where it moves each dim's
    axes together and in their order: a ViT's N (rows and columns of patches, one dim) moves
    as one dim. None where it splits a dim, or the tensor has a dim of size 1."""
    dim_of = [d for d, dim in enumerate(lineage) for a in dim if a.size != 1]
    if len(dim_of) != len(atoms) or len(set(dim_of)) != len(lineage):
        return None
    found: list[int] = []
    k = 0
    while k < len(order):
        d = dim_of[order[k]]
        run = [i for i, of in enumerate(dim_of) if of == d]
        if list(order[k : k + len(run)]) != run:
            return None
        found.append(d)
        k += len(run)
    return found


def _input_names(flow: TraceLineage, call: Call) -> dict:
    """Names forward gave the axes it was passed (``b, c, t, h, w = x.shape``), by
    axis: they name those axes wherever lineage finds them, after ``x`` is reassigned."""
    return {keys[0]: word for word, keys in _input_dims_named(flow, call).items() if len(keys) == 1}


def _input_dims_named(flow: TraceLineage, call: Call) -> dict[str, tuple]:
    """``{name: the axes of that dim}`` for the names forward gave the dims it was passed: a
    dim may hold several axes (a ViT's ``B, N, C = x.shape``, its N the rows and columns of
    patches that ``flatten(2)`` merged)."""
    module = call.parent
    if module is None:
        return {}
    found = {}
    for position, dims in input_dim_names(call.location).items():
        meta = module.input_at(str(position))
        if meta is None:
            continue
        lineage = flow.input_lineage(module, module.inputs.index(meta))
        if len(lineage) != meta.ndim or max(dims.values(), default=0) >= meta.ndim:
            continue
        for word, d in dims.items():
            if lineage[d] and meta.shape[d] != 1:
                found[word] = tuple((a.origin, a.stride, a.size) for a in lineage[d] if a.size != 1)
    return found


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
    # the names this function gave the tensor's dims (``b, length, _ = t.shape``)
    for word, d in dim_names(call.location, receiver_text(call), len(lineage)).items():
        if len(lineage[d]) == 1:
            names.setdefault((lineage[d][0].origin, lineage[d][0].stride, lineage[d][0].size), word)
    for atom_key, word in _input_names(flow, call).items():
        names.setdefault(atom_key, word)
    written = written_sizes(call)
    names.update(_sizes_read(flow, call, lineage, written))
    order = list(range(len(atoms)))
    described = []
    # The names the sizes are written with, over the whole view first: the blocks are cut
    # by size, and an axis whose size another one shares (heads == batch) may sit in the
    # wrong block.
    named = named_order(atoms, list(shape), written, names) if written is not None else None
    if named is None and written is not None:  # (heads split out of an axis whose size another shares)
        split = named_split(atoms, list(shape), written, names)
        if split is not None:
            atoms, named = split
    for block_atoms, dims in blocks if named is None else ():
        sizes = [shape[d] for d in dims]
        texts = [written[d] for d in dims] if written is not None else []
        picks = named_order(block_atoms, sizes, texts, names) or intended_order(block_atoms, sizes)
        start = atoms.index(block_atoms[0])
        if picks is not None:
            order[start : start + len(block_atoms)] = [start + i for i in picks]
        elif len(blocks) == 1 and (split := intended_split(block_atoms, sizes)) is not None:
            # heads split out of the features: the permute needs that axis in two first
            pieces, picks = split
            atoms[start : start + len(block_atoms)] = pieces
            order = list(range(len(atoms)))
            order[start : start + len(pieces)] = [start + i for i in picks]
    if named is not None:
        order = named
    if written is not None:
        # Names the view itself gives: an output dim that is one whole axis in the fixed grouping.
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


def _sizes_read(flow: TraceLineage, call: Call, lineage: tuple, written: list[str] | None) -> dict:
    """``{axis: "tensor.size(2)"}`` for each size the view reads off the tensor it views, or
    off an argument of the forward (``x.size(0)``): it names that axis exactly, whatever
    other axis has its size (T == E, heads == batch)."""
    tensor = receiver_text(call).removesuffix(".contiguous()")
    found = {}
    for text in written or ():
        match = SIZE_OF.match(text)
        read = lineage if match is not None and match.group(1) == tensor else None
        if match is not None and read is None:
            read = _argument_lineage(flow, call, match.group(1))
        if match is None or read is None:
            continue
        dim = int(match.group(2) or match.group(3))
        if -len(read) <= dim < len(read) and len(read[dim]) == 1:
            atom = read[dim][0]
            found[(atom.origin, atom.stride, atom.size)] = text.strip()
    return found


def _argument_lineage(flow: TraceLineage, call: Call, name: str) -> tuple | None:
    """The lineage of the forward's argument ``name`` (``x`` of ``x.size(0)``), as passed."""
    module, position = call.parent, argument_position(call.location, name)
    if module is None or position is None:
        return None
    meta = module.input_at(str(position))
    return flow.input_lineage(module, module.inputs.index(meta)) if meta is not None else None


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
        words = names_in(text)
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
    hint = f"use {tensor}.{swap_text(order)}.reshape({', '.join(written)})"
    return finding("ST012", call, message, hint)


def _product_of_names(text: str) -> list[str] | None:
    """``["b", "t"]`` for ``b * t`` or ``b``; None for any other expression."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    words, parts = [], [node]
    while parts:
        part = parts.pop()
        if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Mult):
            parts += [part.right, part.left]
        elif isinstance(part, ast.Name):
            words.append(part.id)
        else:
            return None
    return words


def _named_elsewhere(flow: TraceLineage, call: Call) -> Finding | None:
    """A view that only merges and splits, one of whose sizes is written with the
    names forward gave the axes of its input (``batch_size, seq_len, _ = x.shape``)
    for an axis that this tensor holds elsewhere: ``values.reshape(batch_size,
    seq_len, heads * head_dim)`` of (batch, heads, seq_len, head_dim) with heads ==
    seq_len. Names count where they name a whole axis by lineage; a name whose axis
    the tensor does not hold (a size reused) says nothing."""
    if call.name not in ("view", "reshape") or call.output is None:
        return None
    written = written_sizes(call)
    by_word = _input_dims_named(flow, call)
    if written is None or not by_word:
        return None
    source, made = flow.input_lineage(call, 0), flow.output_lineage(call, 0)
    keys = [tuple((a.origin, a.stride, a.size) for a in dim) for dim in source]
    held = {key for dim in keys for key in dim}
    wanted: list[tuple | None] = []
    wrong = []
    for k, (text, dim) in enumerate(zip(written, made)):
        words = _product_of_names(text)
        if not words or any(word not in by_word for word in words) or len(set(words)) != len(words):
            wanted.append(None)
            continue
        want = tuple(key for word in words for key in by_word[word])
        if not set(want) <= held or math.prod(key[2] for key in want) != call.output.shape[k]:
            wanted.append(None)
            continue
        wanted.append(want)
        if {(a.origin, a.stride, a.size) for a in dim if a.size != 1} != set(want):
            wrong.append((k, text))
    if not wrong:
        return None
    # Input dims in the order the names ask for; the unnamed output dims take the rest in memory
    # order. A dim whose axes the names cover together (``h``, ``w`` of a flattened (H * W)) is
    # placed at the first of them.
    named_keys = {key for want in wanted if want for key in want}
    covered = {d for d, key in enumerate(keys) if key and set(key) <= named_keys}
    order: list[int] = []
    rest = [d for d in range(len(keys)) if d not in covered]
    for k, named in enumerate(wanted):
        holding = [d for d, key in enumerate(keys) if named and set(key) & set(named)]
        if holding and all(d in covered for d in holding):
            order += [d for d in holding if d not in order]
            continue
        taken, size = [], 1
        while rest and size < call.output.shape[k]:
            taken.append(rest.pop(0))
            size *= call.inputs[0].shape[taken[-1]]
        if size != call.output.shape[k] and call.output.shape[k] != 1:
            return None
        order += taken
    order += rest
    if sorted(order) != list(range(len(keys))):
        return None
    fixed = regroup(tuple(atom for d in order for atom in ((a,) for a in source[d])), call.output.shape, "fix")
    if fixed.mixed or any(
        want is not None and {(a.origin, a.stride, a.size) for a in dim} != set(want)
        for dim, want in zip(fixed.lineage, wanted)
    ):
        return None  # the names ask for an order no permute of these dims gives
    tensor = receiver_text(call)
    said = "; ".join(
        f"its dim {k} is written {text}, the name forward gave an axis of its input, which {tensor} "
        f"holds as dim {next(d for d, key in enumerate(keys) if set(key) & set(wanted[k] or ()))}"
        for k, text in wrong
    )
    message = (
        f"{op_text(call)} {at_line(call)} makes {format_shape(call.output)} from {tensor} "
        f"{format_shape(call.inputs[0])}: {said}. A view keeps memory order, so that dim holds another "
        f"axis of the same size; the sizes fit only because they are equal"
    )
    hint = f"use {tensor}.{swap_text(order)}.reshape({', '.join(written)})"
    return finding("ST012", call, message, hint)


@register(
    "ST012",
    "view-cuts-across-axes",
    "warning",
    "a view/reshape whose output dims group axes out of memory order (heads concatenated by a view, "
    "time folded into the batch without a permute)",
)
def check_view_cuts_axes(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    batches = {
        root.inputs[0].shape[0]
        for root in trace.roots
        if root.kind == "module" and root.inputs and root.inputs[0].shape
    }
    for call in trace.calls:
        if call.error and call.kind == "op" and (found := wrong_row_length(flow, call, batches)) is not None:
            yield found  # a failed view: rows of the wrong length (_flatten_rows.py)
    for call in view_calls(trace):
        if baked_loop_view(trace, call) is not None:
            continue  # the batch size written in is the cause (ST003), not the axis order
        found = wrong_row_length(flow, call, batches) or _check(flow, trace, call)
        if found is None and not regroup(flow.input_lineage(call, 0), call.output.shape, "check").mixed:  # type: ignore[union-attr]
            found = _named(flow, call) or _named_elsewhere(flow, call)
        if found is not None:
            yield found
