"""Passes that differ only by batch size, folded into one entry.

A training script runs its model on full batches, on a short last batch
(40 samples in batches of 16: 16, 16, 8) and on an evaluation batch of
another size. Each is recorded as a pass of its own (one per input
signature); drawn in full, the report repeats the model for each. Two passes
fold into one entry when they differ only by the batch: the same calls in the
same order (module types, names, ops, dtypes, ranks), and every size that
differs is the batch size times the same number in both (a batch of 16 and
of 8: ``(16, 2304)`` against ``(8, 2304)``, ``(192, 16)`` against ``(96, 16)``).
The batch is the leading size of the first input: a seq-first model's time
(a decoder run on 1, 2, ... 8 tokens) folds the same way.

The entry shows each differing size as its values in the order they ran,
``(16|8|20, 1, 28, 28)``, or past three values as their range, ``(1..8, 1, 32)``.
A pass with another structure, with other sizes that are no multiple of the
batch (GPT-2's prompt of 4 tokens against a training batch of 12), or with a
finding or an error in it is never folded (``pinned_calls``).
"""

from __future__ import annotations

import re
from collections.abc import Container, Hashable, Mapping, Sequence
from itertools import accumulate

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.trace import Trace
from shapetrace.render.marks import folded_shapes
from shapetrace.render.structure import Row, relative_name, repeated_runs, shown_children

_NUMBER = re.compile(r"(\d+)")


def pinned_calls(trace: Trace) -> set[int]:
    """Ids of the calls that must keep an entry of their own: a call with a
    finding or an error, and every call it ran inside (a block holding them)."""
    by_id = {call.id: call for call in trace.calls}
    found: set[int] = set()
    starts = [by_id.get(f.call_id) for f in trace.findings if f.call_id is not None]
    starts += [call for call in trace.calls if call.error is not None]
    for call in starts:
        while call is not None and call.id not in found:
            found.add(call.id)
            call = call.parent
    return found


def pass_groups(
    roots: Sequence[Call],
    *,
    ops: bool,
    depth: int | None,
    memo: dict[int, Hashable],
    alone: Container[int] = (),
) -> list[list[list[Call]]]:
    """The top-level calls of a section grouped as ``repeated_runs`` groups them,
    then each group joined to the first earlier one it differs from only by the
    batch (``batch_alike``): each entry the groups of one fold, first group first.

    >>> [[len(g) for g in entry] for entry in pass_groups(roots, ops=True, depth=None, memo={})]  # doctest: +SKIP
    [[1, 1, 1], [1, 1]]   # Net at batches 16, 8 and 20; nll_loss at 16 and 8
    """
    found: list[list[list[Call]]] = []
    for group in repeated_runs(roots, ops=ops, depth=depth, memo=memo, alone=alone):
        first = group[0]
        entry = None
        if first.id not in alone:
            entry = next(
                (
                    entry
                    for entry in found
                    if entry[0][0].id not in alone
                    and entry[0][0].name == first.name
                    and batch_alike(entry[0][0], first, ops=ops, depth=depth)
                ),
                None,
            )
        if entry is None:
            found.append([group])
        else:
            entry.append(group)
    return found


def pass_row(entry: Sequence[Sequence[Call]], stands_for: Mapping[int, int], uncounted: Container[int] = ()) -> Row:
    """The ``Row`` of one ``pass_groups`` entry: its calls, where each pass of another
    batch size begins, and how many calls it stands for, every batch size's
    (``Net (root) ×4`` for batches of 16, 16, 8 and 20), counting those a script left
    unrecorded as alike a recorded one (``stands_for``, call id -> calls:
    ``Sections.stands_for``): ``LSTM (root) ×41`` for 41 training steps, as a trace
    that records every step shows them. Rows under it count one pass's calls. A row
    of calls a script left out uncounted (``uncounted``: ``Sections.uncounted``) claims
    no total, only its first pass's calls."""
    members = [call for group in entry for call in group]
    starts = tuple(accumulate((len(group) for group in entry[:-1]), initial=0))
    if entry[0][0].id in uncounted:
        return Row(members, starts)
    counted = sum(stands_for.get(call.id, 1) for call in members)
    return Row(members, starts, counted if counted > len(entry[0]) else None)


def inner_row(aligned: Sequence[Sequence[Call]], spots: Sequence[int], starts: tuple[int, ...], passes: int) -> Row:
    """The ``Row`` of the calls at ``spots`` among those under each call of a row
    (``aligned[k]``: under its k-th call; ``starts``: where its passes of other batch
    sizes begin); ``passes``: how many alike passes the top-level row folds in its
    first, whose calls the row counts for one pass (``Row.one_pass``)."""
    row = Row([calls[p] for calls in aligned for p in spots], tuple(start * len(spots) for start in starts))
    if passes > 1:
        row.one_pass = len(row.first_variant) // passes
    return row


def batch_alike(a: Call, b: Call, *, ops: bool, depth: int | None) -> bool:
    """Whether ``b`` is ``a`` at another batch size or another length: the same
    structure (``_flat``) and either

    - leading sizes of their first inputs ``Ba != Bb``, and each size that differs
      a multiple ``k × Ba`` in ``a`` and ``k × Bb`` in ``b``; or
    - the same batch, and each size that differs grown (or shrunk) by the same
      step ``d``, or by a multiple ``k × d`` of it: a decoding loop's steps, where
      ``generate()`` feeds one new token a pass and the cache, the attention mask
      and the positions grow by one (a cache of ``(2, 2, 6, 8)`` then
      ``(2, 2, 7, 8)``; ``k × d`` for a length flattened with another size)."""
    structure_a, sizes_a = _flat(a, ops=ops, depth=depth)
    structure_b, sizes_b = _flat(b, ops=ops, depth=depth)
    if structure_a != structure_b or len(sizes_a) != len(sizes_b):
        return False
    batch_a, batch_b = _batch(a), _batch(b)
    if not batch_a or not batch_b:
        return False
    differ = [(x, y) for x, y in zip(sizes_a, sizes_b) if x != y]
    if batch_a == batch_b:
        return _grown_alike(differ)
    return all(not (x % batch_a or y % batch_b or x // batch_a != y // batch_b) for x, y in differ)


def _grown_alike(differ: Sequence[tuple[int, int]]) -> bool:
    """Whether every pair ``(x, y)`` of sizes grows by one step ``d``, or by ``k × d``
    where both sizes are ``k`` times a length (the length flattened with a size ``k``),
    all the same way (a longer or a shorter sequence, never both): an image of 32 × 32
    and one of 33 × 100 do not fold."""
    if not differ:
        return False
    step = min((y - x for x, y in differ), key=abs)
    for x, y in differ:
        k, rest = divmod(y - x, step)
        if rest or k <= 0 or (k > 1 and (x % k or y % k)):
            return False
    return True


def _batch(call: Call) -> int:
    """The leading size of the call's first input with a dimension (0: none)."""
    return next((meta.shape[0] for meta in call.inputs if meta.shape), 0)


def _flat(call: Call, *, ops: bool, depth: int | None) -> tuple[Hashable, list[int]]:
    """What two calls at two batch sizes must share (``signature`` without the
    sizes and strides: ranks instead), and every size, in one order."""
    sizes: list[int] = []

    def walk(call: Call) -> Hashable:
        tensors = []
        for metas in (call.inputs, call.outputs):
            tensors.append(tuple((m.path, len(m.shape), m.dtype, m.device, m.contiguous) for m in metas))
            sizes.extend(size for m in metas for size in m.shape)
        children = tuple((relative_name(child), walk(child)) for child in shown_children(call, ops=ops, depth=depth))
        kept = call.num_params if call.kind == "module" else call.name
        return (call.kind, call.type, kept, call.error, *tensors, children)

    return walk(call), sizes


def row_shapes(row: Sequence[Call], *, output: bool) -> list[tuple[str, bool]]:
    """The shape texts of a table row with whether each is contiguous:
    ``input (16|8, 10)`` where the row folds passes of several batch sizes
    (``Row.variants``), else its first call's (``folded_shapes``)."""
    calls = row.variants if isinstance(row, Row) else [row[0]]
    texts = [
        [
            (text, all(m.contiguous for m in metas))
            for text, metas in folded_shapes(c, _metas(c, output), output=output, with_marks=False)
        ]
        for c in calls
    ]
    first = texts[0]
    if len(texts) == 1 or any(len(other) != len(first) for other in texts):
        return first
    return [(merged_text([other[k][0] for other in texts]), text[1]) for k, text in enumerate(first)]


def _metas(call: Call, output: bool) -> tuple[TensorMeta, ...]:
    return call.outputs if output else call.inputs


def merged_text(texts: Sequence[str]) -> str:
    """``(16|8, 1, 28, 28)`` from ``(16, 1, 28, 28)`` and ``(8, 1, 28, 28)``:
    each number that differs as its values in order, once each (``_sizes_text``);
    the first text where the texts differ in more than numbers."""
    pieces = [_NUMBER.split(text) for text in texts]
    first = pieces[0]
    if any(len(other) != len(first) or other[0::2] != first[0::2] for other in pieces):
        return texts[0]
    merged = list(first)
    for k in range(1, len(first), 2):
        merged[k] = _sizes_text(list(dict.fromkeys(int(other[k]) for other in pieces)))
    return "".join(merged)


def _sizes_text(sizes: list[int]) -> str:
    """``16|8|20`` for up to three sizes, in the order they ran; more as their
    range, ``1..8`` (a decoder stepped over 8 lengths)."""
    if len(sizes) <= 3:
        return "|".join(map(str, sizes))
    return f"{min(sizes)}..{max(sizes)}"


def fold_sizes(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Texts with their counts (a statement's results: ``(16, 10)`` once,
    ``(8, 10)`` once), those that differ only in sizes that vary together
    (each a multiple of the first size that differs, by the same factor in
    all: a batch and its multiples) joined into one with the counts summed,
    ``(16|8, 10)`` ×2. Texts of the same words follow the first of them.
    Sizes that vary apart stay apart: ``(4, 3)`` and ``(8, 5)`` are two texts."""
    groups: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for text, count in counts.items():
        groups.setdefault(tuple(_NUMBER.split(text)[0::2]), []).append((text, count))
    found = []
    for members in groups.values():
        texts = [text for text, _ in members]
        if len(members) > 1 and _vary_together(texts):
            found.append((merged_text(texts), sum(count for _, count in members)))
        else:
            found += members
    return found


def _vary_together(texts: Sequence[str]) -> bool:
    """Whether the sizes that differ among ``texts`` (same words, other numbers)
    are each the first differing size times one factor in every text."""
    sizes = [[int(n) for n in _NUMBER.split(text)[1::2]] for text in texts]
    differ = [k for k in range(len(sizes[0])) if len({row[k] for row in sizes}) > 1]
    lead = differ[0]
    for k in differ[1:]:
        factors = {row[k] // row[lead] if row[lead] and row[k] % row[lead] == 0 else None for row in sizes}
        if len(factors) != 1 or None in factors:
            return False
    return True
