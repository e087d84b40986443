"""What the view and axis checks share: naming axes, regrouping them in order, and
checking that a fix still suits how the result is used next.

Axes (lineage atoms) are named the way the user wrote their sizes: the argument
of the ``view``/``reshape``/``torch.zeros`` call that made the axis, when that
call is in the same function as the line being fixed (so the name is in scope
there) or is an attribute like ``self.h``; else their size.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence

from shapetrace.analyze.checks._source import batch_factor, find_call
from shapetrace.analyze.lineage.atoms import Atom, Lineage, _blocks, regroup
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import permutation
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import CREATION_OPS, PASS_THROUGH_OPS, PERMUTE_OPS, RESHAPE_OPS

AtomKey = tuple[str, int, int]
_ATTRIBUTE = re.compile(r"^(self\.)?[A-Za-z_][\w.]*$|^\d+$")
# Brute force over orders of at most this many axes (7! = 5,040).
MAX_ATOMS = 7


def key(atom: Atom) -> AtomKey:
    return (atom.origin, atom.stride, atom.size)


def source_names(flow: TraceLineage, calls: Sequence[Call], at: Call) -> dict[AtomKey, str]:
    """A name for each axis that a view/reshape/creation made from a written size,
    usable at ``at``'s line: ``{axis: "self.h"}``. Not ``at``'s own sizes: where they
    collide (heads == batch), its output's axes are placed by size, and naming them from
    it would take its mistake for the names."""
    names: dict[AtomKey, str] = {}
    for call in calls:
        if call.kind != "op" or call.output is None or call.name not in RESHAPE_OPS | CREATION_OPS or call is at:
            continue
        if call.name in ("squeeze", "unsqueeze", "flatten", "unflatten", "ravel"):
            continue
        found = find_call(call.location, {call.name}, call.output.ndim, call.index)
        if found is None or len(found.args) != call.output.ndim:
            continue
        same_scope = (
            at.location is not None
            and call.location is not None
            and (call.location.filename, call.location.function) == (at.location.filename, at.location.function)
        )
        for dim, text in zip(flow.output_lineage(call, 0), found.args):
            if len(dim) != 1 or text.strip() in ("-1", ""):
                continue
            if text.isdigit():
                continue  # a number names nothing
            if same_scope or (_ATTRIBUTE.match(text) and text.startswith("self.")):
                names.setdefault(key(dim[0]), text)
    return names


def label(atom: Atom, names: dict[AtomKey, str]) -> str:
    """``self.h (4)``, or ``4`` for an axis without a written name."""
    name = names.get(key(atom))
    return f"{name} ({atom.size})" if name and name != str(atom.size) else str(atom.size)


def _inversions(order: Sequence[int]) -> int:
    return sum(1 for i, j in itertools.combinations(range(len(order)), 2) if order[i] > order[j])


def _clean(atoms: Sequence[Atom], sizes: Sequence[int]) -> bool:
    """True when ``atoms`` in this order only merge or split to make ``sizes``."""
    blocks = _blocks(list(atoms), list(sizes))
    return blocks is not None and all(len(a) == 1 or len(d) == 1 for a, d in blocks)


def intended_order(atoms: Sequence[Atom], sizes: Sequence[int]) -> list[int] | None:
    """The order of ``atoms`` closest to memory order (fewest swaps) in which a
    view to ``sizes`` only merges neighbours or splits one axis: what a
    permute before the view should make. None when there is none, or too many axes."""
    if len(atoms) > MAX_ATOMS or math.prod(a.size for a in atoms) != math.prod(sizes):
        return None
    best: list[int] | None = None
    for order in itertools.permutations(range(len(atoms))):
        if order == tuple(range(len(atoms))):
            continue
        if _clean([atoms[i] for i in order], sizes) and (best is None or _inversions(order) < _inversions(best)):
            best = list(order)
    return best


def intended_split(atoms: Sequence[Atom], sizes: Sequence[int]) -> tuple[list[Atom], list[int]] | None:
    """When no order of whole axes can make ``sizes``: one axis split in two (its
    major piece first, as a view splits it) and the order of the pieces that
    ``intended_order`` picks, ``(atoms with that axis split, order)``. The split of
    ``(B, L, H * D)`` that ``view(B * H, L, D)`` needs: ``[B, L, H, D]``, ``[0, 2, 1, 3]``.
    Among splits that work, the one whose order moves least (fewest swaps, the
    pieces of the split axis counted too); None when none works, or when two tie
    (the sizes cannot tell). Of two that move as little, the one whose pieces, reordered,
    are the view's sizes one for one (``(B, L * H)`` to ``(L, B, H)``: the split
    ``[B, L, H]``, not ``[B, L * H / 3, 3]`` merged and split again)."""
    return least_moving_split(atoms, lambda split: intended_order(split, sizes), sizes)


def least_moving_split(
    atoms: Sequence[Atom], order_of: Callable[[list[Atom]], list[int] | None], sizes: Sequence[int] = ()
) -> tuple[list[Atom], list[int]] | None:
    """Each way of splitting one of ``atoms`` in two (its major piece first, as a view
    splits it) that ``order_of`` finds an order for: the one whose order moves least,
    ``(atoms with that axis split, order)``, and of those the one whose reordered pieces
    are ``sizes`` one for one; None when none does, or two tie."""

    def cost(one: tuple[list[Atom], list[int]]) -> tuple[int, bool]:
        split, order = one
        return _inversions(order), [split[i].size for i in order] != list(sizes)

    found: list[tuple[list[Atom], list[int]]] = []
    for i, atom in enumerate(atoms):
        for major in range(2, atom.size):
            if atom.size % major:
                continue
            minor = atom.size // major
            pieces = [Atom(atom.origin, major, atom.stride * minor), Atom(atom.origin, minor, atom.stride)]
            split = [*atoms[:i], *pieces, *atoms[i + 1 :]]
            order = order_of(split)
            if order is not None:
                found.append((split, order))
    found.sort(key=cost)
    if not found or (len(found) > 1 and cost(found[0]) == cost(found[1])):
        return None
    return found[0]


def cuts(atoms: Sequence[Atom], sizes: Sequence[int]) -> list[list[int]]:
    """For each output size, the atoms (by position) whose elements it runs across:
    its span of the flat memory order overlaps theirs."""

    def spans(lengths: Sequence[int]) -> list[tuple[int, int]]:
        out, stride = [], math.prod(lengths)
        for length in lengths:
            stride //= length
            out.append((stride, stride * length))
        return out

    atom_spans = spans([a.size for a in atoms])
    return [[i for i, (lo, hi) in enumerate(atom_spans) if lo < top and low < hi] for low, top in spans(sizes)]


def _follow(flow: TraceLineage, call: Call) -> Call | None:
    """The one op that next works on ``call``'s output, when it reshapes or reorders it."""
    used = flow.consumers(call, 0)
    if len(used) != 1:
        return None
    nxt, index = used[0]
    if nxt.kind != "op" or index != 0 or nxt.name not in RESHAPE_OPS | PASS_THROUGH_OPS | PERMUTE_OPS:
        return None
    return nxt


def downstream_clean(flow: TraceLineage, call: Call, lineage: Lineage) -> bool:
    """True when, with ``lineage`` as ``call``'s output, the permutes and views
    that follow it on the same tensor reorder nothing by a view: the fix suits
    how the result is used next."""
    current, lin = call, lineage
    for _ in range(16):
        nxt = _follow(flow, current)
        if nxt is None or nxt.output is None:
            return True
        if nxt.name in PERMUTE_OPS:
            order = permutation(nxt, len(lin))
            if order is None or sorted(order) != list(range(len(lin))):
                return True
            lin = tuple(lin[i] for i in order)
        elif nxt.name in RESHAPE_OPS:
            regrouped = regroup(lin, nxt.output.shape, f"fix#{nxt.id}")
            if regrouped.mixed:
                return False
            lin = regrouped.lineage
        current = nxt
    return True


def keeps_memory_order(sizes: Sequence[int], index: int, shape: Sequence[int], position: int) -> bool:
    """True when a view of a tensor of ``shape`` to ``sizes`` (one of them may be -1) puts
    the input's dim ``position`` at output dim ``index`` without crossing other axes:
    the output dims before ``index`` hold exactly the elements of the input dims before
    ``position``. ``(8, 4).view(-1, 8)`` puts no batch of 8 in dim 1 (rows of two samples);
    ``(8, 4).view(8, 2, 2)`` keeps it in dim 0."""
    numel = math.prod(shape)
    known = math.prod(size for size in sizes if size != -1)
    whole = [numel // known if size == -1 and known else size for size in sizes]
    return math.prod(whole[:index]) == math.prod(shape[:position]) and whole[index] == shape[position]


def batch_view(call: Call, tensor: str, args: list[str], index: int, layout: tuple[list[int], int]) -> str | None:
    """ST003's fix of ``tensor.view(*args)`` (``call``) whose ``args[index]`` was a
    batch size baked in, ``layout`` being its sizes with this batch's there and the
    input dim the batch is in. A written multiple of the batch (``self.batch * 4``)
    has its factor replaced (``tensor.size(0) * 4``). Else ``use h.view(-1, h.size(0))``
    when the batch lands there in memory order (see ``keeps_memory_order``); else, for a
    view/reshape whose batch leads in memory, the view with the batch first and a
    permute moving it to ``index`` (``h.view(h.size(0), -1).transpose(0, 1)`` for an
    ``(8, 4).view(-1, 3)``); else None (no view there keeps the samples apart)."""
    sizes, position = layout
    size = f"{tensor}.size({position})"
    factor = batch_factor(args[index])
    written = [*args[:index], args[index].replace(factor, size) if factor else size, *args[index + 1 :]]
    if factor or keeps_memory_order(sizes, index, call.inputs[0].shape, position):
        return f"use {tensor}.{call.name}({', '.join(written)})"
    if position != 0 or call.name not in ("view", "reshape"):
        return None
    order = [*range(1, index + 1), 0, *range(index + 1, len(args))]
    natural = [size, *args[:index], *args[index + 1 :]]
    return f"use {tensor}.{call.name}({', '.join(natural)}).{swap_text(order)}"


def swap_text(order: Sequence[int]) -> str:
    """``transpose(1, 2)`` for a swap of two dims, else ``permute(...)``."""
    moved = [i for i, j in enumerate(order) if i != j]
    if len(moved) == 2:
        return f"transpose({moved[0]}, {moved[1]})"
    return f"permute({', '.join(map(str, order))})"
