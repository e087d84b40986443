"""ST023 told by lineage: a cross-entropy's scores and targets that line up by shape only.

Two layouts pass PyTorch's shape check and pair each score with another position's label:

- rows flattened in two orders: a seq-first model's logits (T, B, C) flattened to
  (T * B, C) against the DataLoader's tags (B, T) flattened to (B * T,): row r is step
  r // B of sample r % B in the one, step r % T of sample r // T in the other. The
  merged dims' pieces tell it (the DataLoader's batch inner in one, outer in the other,
  ``_one_batch.loader_batch_axes``), whatever the sizes;
- class probabilities from ``F.one_hot``, which puts the classes last, (B, T, C), against
  scores that ``cross_entropy`` reads with the classes in dim 1, (B, C, T): with T == C
  the loss runs over the wrong axis.
"""

from __future__ import annotations

from shapetrace.analyze.checks._common import at_line, call_of_origin, made_by, op_text, receiver_text
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.atoms import DimAtoms
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims

_FLATTENING = frozenset({"reshape", "view", "flatten"})
_ONE_HOT = frozenset({"one_hot"})


def rows_apart(
    calls: tuple[Call, ...], flow: TraceLineage, call: Call, scores: int, target: int, batch: frozenset[tuple[str, int]]
) -> tuple[str, str, Call] | None:
    """``(why, help, the call to place it on)`` where dim 0 of the scores (input ``scores`` of
    the loss ``call``) and of the target (input ``target``) merge a DataLoader's batch
    (``batch``: ``_one_batch.loader_batch_axes``) with another axis in two orders: the
    loss, or the ``torch.cat`` that joined per-step outputs along their batch dim
    (``_join_fix``); None otherwise."""
    if not call.inputs[scores].shape or not call.inputs[target].shape:
        return None
    rows = flow.input_lineage(call, scores)[0], flow.input_lineage(call, target)[0]
    if len(rows[0]) != 2 or len(rows[1]) != 2:
        return None
    places = [_batch_piece(flow, dim, batch) for dim in rows]
    if None in places or places[0] == places[1]:
        return None
    sizes = [format_dims(tuple(atom.size for atom in dim)) for dim in rows]
    size = rows[0][places[0]].size  # type: ignore[index]
    inner = ("inner", "outer") if places[0] == 1 else ("outer", "inner")
    why = (
        f"their rows are flattened in two orders: dim 0 of the input is {sizes[0]} merged with the DataLoader's "
        f"batch ({size} samples) {inner[0]}, of the target {sizes[1]} with it {inner[1]}, so each score is "
        f"paired with another position's label (the sizes being equal, nothing raises)"
    )
    joined = call_of_origin(calls, rows[0][0].origin) if rows[0][0].origin.startswith("cat#") else None
    if joined is not None and places[0] == 1:  # (steps joined along the batch: the pieces outer)
        why += (
            f"; the input's rows are as {op_text(joined)} {at_line(joined)} joined {len(joined.inputs)} pieces "
            f"along their batch dim"
        )
        fix = _join_fix(joined)
        if fix is not None:
            return why, fix, joined
    flattening = _flattening(flow, call, target)
    if flattening is None:
        return why, "flatten the target in the input's order (transpose its two axes before the reshape)", call
    receiver = receiver_text(flattening)
    written = op_text(flattening)
    if not written.startswith(receiver):
        return why, f"transpose the target's two axes before {written} {at_line(flattening)}", call
    fix = f"use {receiver}.transpose(0, 1){written[len(receiver) :]}: the target's rows then in the input's order"
    return why, fix, call


def _join_fix(joined: Call) -> str | None:
    """``use torch.cat(outputs, dim=1): ...`` for a ``torch.cat`` along dim 0 of per-step
    pieces that each kept a size-1 step dim, (B, 1, V): the join meant that dim, and
    made (T * B, 1, V) where (B, T, V) was meant. Pieces without one, (B, V), may be
    joined time-major on purpose: None (the help goes to the target)."""
    pieces = [meta.shape for meta in joined.inputs]
    if len(pieces) < 2 or len(pieces[0]) < 3 or joined.outputs[0].shape[0] != sum(p[0] for p in pieces):
        return None
    steps = [d for d in range(1, len(pieces[0])) if all(len(p) == len(pieces[0]) and p[d] == 1 for p in pieces)]
    written = find_call(joined.location, {joined.name}, occurrence=joined.index)
    if len(steps) != 1 or written is None or not written.args:
        return None
    name = f"{written.receiver}.{joined.name}" if written.receiver else joined.name
    return (
        f"use {name}({written.args[0]}, dim={steps[0]}): the steps on dim {steps[0]}, each sample's rows together, "
        f"as the target's"
    )


def _batch_piece(flow: TraceLineage, dim: DimAtoms, batch: frozenset[tuple[str, int]]) -> int | None:
    pieces = [k for k, atom in enumerate(dim) if flow.outside_axes((atom,)) & batch]
    return pieces[0] if len(pieces) == 1 else None


def _flattening(flow: TraceLineage, call: Call, index: int) -> Call | None:
    """The reshape that merged the target's dim 0 from a 2-d tensor (``tags.reshape(-1)``)."""
    made = made_by(flow, call, index, _FLATTENING)
    return made if made is not None and made.inputs[0].ndim == 2 and made.outputs[0].ndim == 1 else None


def classes_last(
    flow: TraceLineage, call: Call, scores: int, target: int, names: tuple[str, str]
) -> tuple[str, str] | None:
    """``(why, help)`` where the target is class probabilities ``F.one_hot`` made (the classes
    last) against scores of three or more dims, whose classes the loss reads in dim 1."""
    if not call.inputs[target].dtype.is_floating_point:
        return None
    found = _one_hot_classes(flow, call, scores, target)
    if found is None or found[1] == 1:
        return None
    one_hot, held = found
    why = (
        f"the target is class probabilities {op_text(one_hot)} made {at_line(one_hot)}, with the classes in dim "
        f"{held} (F.one_hot puts them last), where the loss reads them in dim 1, as the input has them"
    )
    return why, f"use {names[1]}.movedim({held}, 1): the classes in dim 1"


def one_hot_classes_apart(flow: TraceLineage, call: Call, scores: int, target: int) -> tuple[str, int, int] | None:
    """``(why, the target's class dim, the scores')`` where an elementwise loss (``BCEWithLogitsLoss``,
    ``MSELoss``) compares scores whose class axis is the features a layer made (a conv's
    channels, dim 1) with an ``F.one_hot`` target of the same shape whose classes are on
    another dim (last): the sizes equal, the loss runs across the wrong axis."""
    found = _one_hot_classes(flow, call, scores, target)
    if found is None:
        return None
    one_hot, held = found
    made = [
        d
        for d, dim in enumerate(flow.input_lineage(call, scores))
        if dim and all(atom.origin.endswith((":channels", ":out")) for atom in dim)
    ]
    if len(made) != 1 or made[0] == held:
        return None
    why = (
        f"the target is {op_text(one_hot)} {at_line(one_hot)}, with the classes in dim {held} (F.one_hot puts "
        f"them last), where the input has its classes, the features its last layer made, in dim {made[0]}: "
        f"each score is compared with another axis of the target (the sizes being equal, nothing raises)"
    )
    return why, held, made[0]


def _one_hot_classes(flow: TraceLineage, call: Call, scores: int, target: int) -> tuple[Call, int] | None:
    """``(the F.one_hot, the dim of the target holding its classes)``, for a target of the
    scores' shape (3 or more dims) that a one-hot made; followed by lineage, since a permute
    on the way keeps the shape where sizes are equal."""
    score, label = call.inputs[scores], call.inputs[target]
    if score.ndim < 3 or label.shape != score.shape:
        return None
    one_hot = one_hot_source(flow, call, target)
    if one_hot is None:
        return None
    classes = flow.outside_axes(flow.output_lineage(one_hot, 0)[-1])
    held = [d for d, dim in enumerate(flow.input_lineage(call, target)) if flow.outside_axes(dim) & classes]
    return (one_hot, held[0]) if len(held) == 1 else None


def one_hot_source(flow: TraceLineage, call: Call, index: int) -> Call | None:
    """The ``F.one_hot`` whose classes input ``index`` of ``call`` holds, through steps that
    keep its shape (``.float()``, label smoothing ``* 0.9 + 0.1 / C``)."""
    return made_by(flow, call, index, _ONE_HOT)
