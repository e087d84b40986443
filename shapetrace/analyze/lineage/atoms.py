"""Atoms: the original axes a tensor dimension is made of.

A dimension of size 150 that ``view(B * T, H)`` made from ``(5, 30, 64)`` is
the two atoms ``B`` and ``T``, major first. Atoms are identified by where
they were born (``origin``), never by their size, so ``B`` and ``T`` stay
apart even when both are 5. A size-1 dimension holds no atom.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Atom:
    """One original axis, or a piece of one that a view split.

    ``stride`` orders the pieces of a split axis: the piece with the larger
    stride is the major one; a whole axis has stride 1.
    """

    origin: str
    size: int
    stride: int = 1

    def resized(self, size: int) -> Atom:
        """The same axis after slicing, pooling or striding changed its length."""
        return dataclasses.replace(self, size=size)


DimAtoms = tuple[Atom, ...]
Lineage = tuple[DimAtoms, ...]

# The origin of the axis of copies that ``repeat``/``repeat_interleave`` make (op_rules.py);
# ``expand`` names the axis it makes ``expand#``.
COPIES = "copies#"


def is_copies(atom: Atom) -> bool:
    """Whether the axis holds copies of the same data (``repeat``, ``expand``): no data of its own."""
    return atom.origin.startswith((COPIES, "expand#"))


@dataclasses.dataclass(frozen=True)
class PackedAtom(Atom):
    """The first dim of a ``PackedSequence``'s data: the valid steps of every
    sequence, time-major, so neither batch nor time alone. It remembers both
    axes, which ``pad_packed_sequence`` gives back."""

    batch: Atom | None = None
    time: Atom | None = None


def packed_dim(batch: DimAtoms, time: DimAtoms, size: int, origin: str) -> DimAtoms:
    """The packed dim of ``size`` made of a batch and a time axis (each one atom, or unknown)."""
    return (
        (PackedAtom(origin, size, 1, batch[0] if len(batch) == 1 else None, time[0] if len(time) == 1 else None),)
        if size != 1
        else ()
    )


def fresh(origin: str, shape: Sequence[int]) -> Lineage:
    """New atoms, one per dimension of ``shape`` (none for size-1 dims)."""
    return tuple(fresh_dim(f"{origin}:{i}", size) for i, size in enumerate(shape))


def fresh_dim(origin: str, size: int) -> DimAtoms:
    return () if size == 1 else (Atom(origin, size),)


def dim_size(dim: DimAtoms) -> int:
    return math.prod(atom.size for atom in dim)


def is_single(dim: DimAtoms, atom: Atom) -> bool:
    """True when ``dim`` is exactly that whole axis."""
    return len(dim) == 1 and dim[0].origin == atom.origin


def origins(dim: DimAtoms) -> set[str]:
    return {atom.origin for atom in dim}


def axes(dim: DimAtoms) -> set[tuple[str, int]]:
    """The axes ``dim`` is made of, each known by its origin and stride, whatever its
    length: the two pieces of an axis that a view split (word_language_model's
    ``data.view(bsz, -1).t()``: its batch and its time) are two axes, though of one origin."""
    return {(atom.origin, atom.stride) for atom in dim}


def resize(lineage: Lineage, shape: Sequence[int]) -> Lineage:
    """Give single-atom dims the lengths that slicing or pooling left them."""
    if len(lineage) != len(shape):
        return lineage
    out = []
    for dim, size in zip(lineage, shape):
        if len(dim) == 1 and dim[0].size != size:
            dim = () if size == 1 else (dim[0].resized(size),)
        out.append(dim)
    return tuple(out)


def dim_of(lineage: Lineage, atom: Atom) -> int | None:
    """The position of the dim that is exactly that axis (sliced or not; a piece of a split
    axis is told from the other pieces by its stride)."""
    return next((i for i, dim in enumerate(lineage) if axes(dim) == {(atom.origin, atom.stride)}), None)


def _normalise(dim: list[Atom]) -> DimAtoms:
    """Join consecutive pieces of one axis back together (a split undone)."""
    out: list[Atom] = []
    for atom in dim:
        if atom.size == 1:
            continue
        last = out[-1] if out else None
        if last is not None and last.origin == atom.origin and last.stride == atom.stride * atom.size:
            out[-1] = Atom(atom.origin, last.size * atom.size, atom.stride)
        else:
            out.append(atom)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Regrouped:
    """The result of regrouping atoms into a new shape.

    ``mixed`` holds, for each block where dims were not simply merged or
    split, the atoms of the block and the positions of the output dims it
    fills: there the view reorders data rather than reinterpreting it.
    """

    lineage: Lineage
    mixed: tuple[tuple[tuple[Atom, ...], tuple[int, ...]], ...] = ()


def _blocks(atoms: list[Atom], sizes: list[int]) -> list[tuple[list[Atom], list[int]]] | None:
    """Cut atoms and output sizes (none of them 1) where their running products agree."""
    blocks: list[tuple[list[Atom], list[int]]] = []
    i = j = 0
    while i < len(atoms) or j < len(sizes):
        block_atoms: list[Atom] = []
        block_dims: list[int] = []
        left = right = 1
        while not block_atoms or left != right:
            if left <= right:
                if i == len(atoms):
                    return None  # element counts differ: not a reshape
                left *= atoms[i].size
                block_atoms.append(atoms[i])
                i += 1
            else:
                if j == len(sizes):
                    return None
                right *= sizes[j]
                block_dims.append(j)
                j += 1
        blocks.append((block_atoms, block_dims))
    return blocks


def _split(atom: Atom, sizes: Sequence[int]) -> list[DimAtoms]:
    """Pieces of one axis split into ``sizes``, major first."""
    pieces: list[DimAtoms] = []
    stride = atom.stride * atom.size
    for size in sizes:
        stride //= size
        pieces.append((Atom(atom.origin, size, stride),))
    return pieces


def _spans(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Where each dim of a block runs in its flat memory order: ``[stride, stride * size)``."""
    out, stride = [], math.prod(sizes)
    for size in sizes:
        stride //= size
        out.append((stride, stride * size))
    return out


def _refined(atoms: Sequence[Atom], sizes: Sequence[int]) -> list[DimAtoms] | None:
    """The pieces of ``atoms`` that each of ``sizes`` is made of, when the view splits
    axes and merges the pieces with their neighbours in memory order, as
    ``(T, B, E).view(T, B * H, D)`` does (E split into H, D; B merged with H).

    None when an output dim's bounds cut an axis unevenly (the view splices axes),
    when the sizes are the axes' own in another order (a reordering, ST002's case),
    or when an output size is the size of another whole axis of the block: then
    the written size most likely names that axis, which the view does not put there.
    """
    atom_sizes = [a.size for a in atoms]
    if sorted(atom_sizes) == sorted(sizes):
        return None
    atom_spans, out_spans = _spans(atom_sizes), _spans(sizes)
    for low, _ in out_spans:
        if any(lo < low < hi and (low % lo or hi % low) for lo, hi in atom_spans):
            return None
    pieces: list[DimAtoms] = []
    for low, high in out_spans:
        dim = []
        for atom, (lo, hi) in zip(atoms, atom_spans):
            start, stop = max(low, lo), min(high, hi)
            if start < stop:
                dim.append(Atom(atom.origin, stop // start, atom.stride * (start // lo)))
        pieces.append(_normalise(dim))
    if any(dim != (atom,) and atom.size == size for size, dim in zip(sizes, pieces) for atom in atoms):
        return None
    return pieces


def regroup(lineage: Lineage, shape: Sequence[int], mixed_origin: str) -> Regrouped:
    """The lineage of a ``view``/``reshape`` of a tensor to ``shape``.

    Reshaping keeps the order of the elements, so it can only merge
    neighbouring atoms or split one atom. A block that needs both is a
    reordering: its output dims get new atoms named after ``mixed_origin``.

    >>> B, T, H = Atom("B", 5), Atom("T", 30), Atom("H", 64)
    >>> regroup(((B,), (T,), (H,)), (150, 64), "v").lineage == ((B, T), (H,))   # B and T merged
    True
    """
    atoms = [atom for dim in lineage for atom in dim if atom.size != 1]
    positions = [i for i, size in enumerate(shape) if size != 1]
    blocks = _blocks(atoms, [shape[i] for i in positions]) if 0 not in shape else None
    if blocks is None:
        return Regrouped(fresh(mixed_origin, shape))
    out: list[DimAtoms] = [() for _ in shape]
    mixed = []
    for block_atoms, block_dims in blocks:
        dims = [positions[j] for j in block_dims]
        if len(dims) == 1:
            out[dims[0]] = _normalise(block_atoms)
        elif len(block_atoms) == 1:
            for position, piece in zip(dims, _split(block_atoms[0], [shape[d] for d in dims])):
                out[position] = piece
        elif (pieces := _refined(block_atoms, [shape[d] for d in dims])) is not None:
            for position, piece in zip(dims, pieces):
                out[position] = piece
        else:
            mixed.append((tuple(block_atoms), tuple(dims)))
            for position in dims:
                out[position] = fresh_dim(f"{mixed_origin}:{position}", shape[position])
    return Regrouped(tuple(out), tuple(mixed))
