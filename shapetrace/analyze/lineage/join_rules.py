"""Lineage of the ops that join tensors: ``torch.cat`` and ``torch.stack``.

A joined dim is new (``cat#12``), or, where every piece holds the same axis along it
(a decoder's per-step outputs joined along the batch), pieces of that axis; the other
dims keep the axis the pieces share, the one told by data first (``_known_axis``).
"""

from __future__ import annotations

from shapetrace.analyze.lineage.atoms import Atom, DimAtoms, Lineage, dim_size, fresh_dim
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.core.records import Call
from shapetrace.core.torch_facts import SIZED_CREATION_OPS


def concatenate(call: Call, ins: list[Lineage]) -> list[Lineage] | None:
    if not ins or call.output is None:
        return None
    first = ins[0]
    if call.name == "stack":
        axis = axis_of(argument(call, 1, "dim", 0), len(first) + 1)
        if axis is None:
            return None
        return [(*first[:axis], fresh_dim(f"stack#{call.id}", call.output.shape[axis]), *first[axis:])]
    axis = axis_of(argument(call, 1, "dim", 0), len(first))
    if axis is None:
        return None
    joined = _pieces_of_one_axis(call, ins, axis) or fresh_dim(f"cat#{call.id}", call.output.shape[axis])
    kept = [_known_axis([lin[d] for lin in ins if len(lin) == len(first)]) for d in range(len(first))]
    return [(*kept[:axis], joined, *kept[axis + 1 :])]


def _pieces_of_one_axis(call: Call, ins: list[Lineage], axis: int) -> DimAtoms | None:
    """The joined dim as pieces (outer) of one axis (inner), where every piece holds an axis
    of one length along ``axis`` and at least one is told (``_known_axis``): a decoder's
    per-step outputs (B, 1, V) joined along dim 0 hold steps x batch
    (``torch.cat(outputs, dim=0)``: row r is step r // B of sample r % B), as
    ``torch.stack`` then a reshape would; None otherwise."""
    along = [lin[axis] if len(lin) > axis else () for lin in ins]
    if len(ins) < 2 or not all(along) or len({dim_size(dim) for dim in along}) != 1:
        return None
    if len(ins) * dim_size(along[0]) != call.output.shape[axis]:  # type: ignore[union-attr]
        return None
    inner = _known_axis(along)
    if _rank(inner) > 1:
        return None  # (made to fit, or broadcast: no axis of the data to tell)
    return (Atom(f"cat#{call.id}:{axis}", len(ins)), *inner)


# Origins of axes nothing told: a broadcast parameter (``cls_token.expand(B, -1, -1)``),
# a tensor seen first here.
_UNTOLD = ("unknown#", "expand#")


def _known_axis(candidates: list[DimAtoms]) -> DimAtoms:
    """The axis the joined tensors share at a dim they are not joined along: the first
    told one (``torch.cat([cls_token.expand(B, -1, -1), patches], 1)`` keeps the
    patches' batch and features, not the expanded token's), one that came with data
    before one a creation op made to fit it (``torch.cat([torch.full((B, 1), bos),
    tgt[:, :-1]], 1)`` keeps the target's batch)."""
    ranked = sorted((_rank(dim), position) for position, dim in enumerate(candidates) if dim)
    return candidates[ranked[0][1]] if ranked else candidates[0]


def _rank(dim: DimAtoms) -> int:
    """0: an axis told by data; 1: one of a tensor seen first there (a batch a DataLoader
    yielded); 2: one a creation op made; 3: a broadcast one (``expand``)."""
    if any(atom.origin.startswith("expand#") for atom in dim):
        return 3
    if any(_created(atom.origin) for atom in dim):
        return 2
    return 1 if any(atom.origin.startswith(_UNTOLD) for atom in dim) else 0


def _created(origin: str) -> bool:
    """Whether an axis was born in a creation op that took its size as an argument (``torch.full((B, 1), v)``)."""
    return origin.partition("#")[0] in SIZED_CREATION_OPS
