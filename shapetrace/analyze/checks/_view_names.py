"""Which axis a view's written sizes name (``view(B, T, self.n_head, C // self.n_head)``):
when sizes collide (heads == batch, tokens == head size), the names the code gave the
axes tell them apart (ST012's reading and its help, view_cuts_axes.py)."""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Sequence

from shapetrace.analyze.checks._axes import MAX_ATOMS, _clean, _inversions, least_moving_split
from shapetrace.analyze.lineage.atoms import Atom, regroup

# ``t.size(2)``, ``t.shape[-1]``: a size read off the viewed tensor itself.
SIZE_OF = re.compile(r"^\s*(.+?)\.(?:size\((-?\d+)\)|shape\[(-?\d+)\])\s*$")


def names_in(text: str) -> list[str] | None:
    """The names a written size is made of (``C // self.n_head``: ``C``, ``self``); None when it does not parse."""
    if SIZE_OF.match(text):
        return [text.strip()]  # (``_sizes_read`` names the axis by the whole expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def named_order(atoms: Sequence[Atom], sizes: list[int], texts: list[str], names: dict) -> list[int] | None:
    """The order of ``atoms`` (fewest swaps first) whose groups are the axes the view's
    sizes name (``b * h * w`` where ``b``, ``h``, ``w`` name axes): when sizes collide
    (C == H == W), the names tell which axis goes where. None when no size is
    written with names of those axes, or no order agrees."""
    here = {(a.origin, a.stride, a.size) for a in atoms}
    by_name = {word: atom_key for atom_key, word in names.items() if atom_key in here}
    wanted = []
    for text in texts:
        words = names_in(text) if text.strip() not in ("-1", "") else None
        wanted.append({by_name[w] for w in words} if words and all(w in by_name for w in words) else None)
    if not any(wanted) or len(atoms) > MAX_ATOMS:
        return None
    for order in sorted(itertools.permutations(range(len(atoms))), key=_inversions):
        placed = [atoms[i] for i in order]
        if not _clean(placed, sizes):
            continue
        groups = regroup(tuple((a,) for a in placed), tuple(sizes), "named").lineage
        if all(
            want is None or {(a.origin, a.stride, a.size) for a in group} == want for group, want in zip(groups, wanted)
        ):
            return list(order) if list(order) != list(range(len(atoms))) else None
    return None


def named_split(
    atoms: list[Atom], sizes: list[int], texts: list[str], names: dict
) -> tuple[list[Atom], list[int]] | None:
    """``named_order`` with one axis split in two, as ``intended_split`` splits it
    (heads split out of the features, ``view(B, T, H, D).transpose(1, 2)``), when no
    order of whole axes agrees with the names: ``(atoms with that axis split, order)``, the
    one that moves least; None when no split agrees, or two tie."""
    return least_moving_split(atoms, lambda split: named_order(split, sizes, texts, names))
