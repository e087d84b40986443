"""What the table, the tree and the graph show of the call tree.

The views cut the tree at a depth, may leave ops out, and fold repeated
sibling calls into one entry that shows the first of them:

- a run of identical sibling calls (the 12 layers of a transformer) becomes
  ``layers.0-11 ×12`` (tree and graph);
- calls of one module, or of one op expression, from one line with the same
  shapes (a loop over time steps, anywhere among its siblings) become
  ``lstm1 ×1999`` or ``.mul(T) ×1999`` (every view). Two ops of one line
  (``x.mul(w) * m``, the two residual adds a ``TransformerEncoderLayer`` runs
  at the line that called it) are two expressions (``Call.site``): each its
  own entry, with its own count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Hashable, Sequence

from shapetrace.core.records import Call
from shapetrace.core.torch_facts import LOSS_OPS

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def is_shown(call: Call, *, ops: bool, depth: int | None) -> bool:
    """Whether a view draws ``call``: ops only with ``ops`` (but see ``is_user_loss``),
    nothing deeper than ``depth``."""
    return (ops or call.kind == "module" or is_user_loss(call)) and (depth is None or call.depth <= depth)


def is_user_loss(call: Call) -> bool:
    """Whether ``call`` is a functional loss the user's own code computed, outside
    any module (``F.mse_loss(pred, y)`` after the forward): drawn even with ops
    hidden, like a loss module (``nn.MSELoss``), since the loss is where a
    prediction and a target that disagree in shape show (ST005, ST016).
    The names are ``torch_facts.LOSS_OPS``, the losses the recorder keeps
    wherever they are called."""
    return call.kind == "op" and call.parent_id is None and call.name in LOSS_OPS


def shown_children(call: Call, *, ops: bool, depth: int | None) -> list[Call]:
    return [child for child in call.children if is_shown(child, ops=ops, depth=depth)]


def shown_roots(calls: Sequence[Call], *, ops: bool) -> list[Call]:
    """Top-level calls a view draws (ops at the top level only with ``ops``)."""
    return [c for c in calls if c.parent_id is None and is_shown(c, ops=ops, depth=None)]


def relative_name(call: Call) -> str:
    """``self_attn`` for ``layers.0.self_attn`` inside ``layers.0``; ops keep their name."""
    parent = call.parent
    if call.kind == "module" and parent is not None and parent.name:
        return call.name.removeprefix(parent.name + ".")
    return call.name


def signature(call: Call, *, ops: bool, depth: int | None, memo: dict[int, Hashable] | None = None) -> Hashable:
    """Everything two calls must share to be drawn as one: type, shapes, params,
    and the same for their shown children; not their names or places.
    ``memo`` (call id -> signature) saves recomputing nested calls' signatures."""
    if memo is not None:
        known = memo.get(call.id)
        if known is not None:
            return known
    found = (
        call.kind,
        call.type,
        call.num_params if call.kind == "module" else call.name,
        tuple((m.path, m.shape, m.dtype, m.device, m.stride) for m in call.inputs),
        tuple((m.path, m.shape, m.dtype, m.device, m.stride) for m in call.outputs),
        tuple(
            (relative_name(child), signature(child, ops=ops, depth=depth, memo=memo))
            for child in shown_children(call, ops=ops, depth=depth)
        ),
    )
    if memo is not None:
        memo[call.id] = found
    return found


def repeated_runs(
    calls: Sequence[Call],
    *,
    ops: bool,
    depth: int | None,
    loops: bool = True,
    memo: dict[int, Hashable] | None = None,
    alone: Container[int] = (),
) -> list[list[Call]]:
    """Consecutive module calls with one signature, grouped; with ``loops``,
    each call also joins an earlier one of its module or op from the same line
    with the same signature (``loop_repeats``). Groups keep the order of their
    first calls. A call whose id is in ``alone`` (``pinned_calls``: a finding
    or an error in it) joins no run of siblings, so the row, entry or node that
    shows it is its own (``h.1`` with a finding stays beside ``h.0``).

    >>> [len(run) for run in repeated_runs(encoder.children, ops=False, depth=2)]
    [12]
    >>> [len(run) for run in repeated_runs(sequence.children, ops=False, depth=1)]  # doctest: +SKIP
    [999, 999, 999]
    """
    memo = {} if memo is None else memo
    runs: list[list[Call]] = []
    previous: Hashable = None
    same_line: dict[Hashable, list[Call]] = {}
    line_keys = [_line_key(call, ops=ops, depth=depth, memo=memo) if loops else None for call in calls]
    steps = _layers_looped(calls, line_keys)
    for call, line_key in zip(calls, line_keys):
        key = signature(call, ops=ops, depth=depth, memo=memo) if call.kind == "module" else None
        earlier = same_line.get(line_key) if line_key is not None else None
        if earlier is None and call.id in steps and call.id not in alone:
            earlier = same_line.get(steps[call.id])  # a later layer of a loop over layers
        if earlier is not None:
            # a loop's later step, drawn with its first: its neighbours are each other's
            # (blocks.0 and blocks.1 around a mask's .mul fold as blocks.0-1)
            earlier.append(call)
            continue
        if (
            runs
            and key is not None
            and key == previous
            and runs[-1][0].kind == "module"
            and call.id not in alone
            and runs[-1][-1].id not in alone
        ):
            runs[-1].append(call)
        else:
            runs.append([call])
            if line_key is not None:
                same_line[line_key] = runs[-1]
        previous = key
    return runs


def _layers_looped(calls: Sequence[Call], keys: Sequence[tuple | None]) -> dict[int, Hashable]:
    """Call id -> the line key of the first layer of its loop, for the later layers
    of a loop over layers (``for layer in self.layers: x = torch.relu(layer(x))``):
    modules of one type called once each from one line with one signature, with a
    call between the first and the last that repeats (the loop's own ops; without
    one, ``fc2(tanh(fc1(x)))`` run once is no loop, and layers with nothing between
    fold as neighbours anyway). They fold into one entry, ``hidden.0-2: Linear ×3``,
    beside ``relu(T) ×3``, where they read ``hidden.0``, ``relu(T) ×3``, ``hidden.1-2 ×2``.
    ``keys``: each call's ``_line_key``."""
    counts: Counter[tuple | None] = Counter(key for key in keys if key is not None)
    groups: dict[Hashable, list[int]] = {}
    for position, (call, key) in enumerate(zip(calls, keys)):
        if call.kind == "module" and key is not None:
            groups.setdefault((call.type, *key[1:]), []).append(position)
    found: dict[int, Hashable] = {}
    for positions in groups.values():
        names = [calls[p].name for p in positions]
        if len(positions) < 2 or len(set(names)) < len(names):
            continue  # one layer, or modules called again (each a loop of its own)
        if any(counts.get(keys[p], 0) > 1 for p in range(positions[0] + 1, positions[-1])):
            found.update((calls[p].id, keys[positions[0]]) for p in positions[1:])
    return found


def loop_repeats(
    calls: Sequence[Call], *, ops: bool, depth: int | None, memo: dict[int, Hashable] | None = None
) -> list[list[Call]]:
    """Calls grouped with the earlier calls of their module (or op) from the
    same line with the same signature: a loop's steps. Other calls alone.

    >>> len(t.root.children), len(loop_repeats(t.root.children, ops=True, depth=None))  # no loop here
    (11, 11)
    >>> [(r[0].name, len(r)) for r in loop_repeats(sequence.children, ops=True, depth=None)][4:7]  # doctest: +SKIP
    [('split', 1), ('lstm1', 999), ('lstm2', 999)]
    """
    memo = {} if memo is None else memo
    groups: list[list[Call]] = []
    same_line: dict[Hashable, list[Call]] = {}
    for call in calls:
        key = _line_key(call, ops=ops, depth=depth, memo=memo)
        earlier = same_line.get(key) if key is not None else None
        if earlier is not None:
            earlier.append(call)
        else:
            groups.append([call])
            if key is not None:
                same_line[key] = groups[-1]
    return groups


def _line_key(call: Call, *, ops: bool, depth: int | None, memo: dict[int, Hashable]) -> tuple | None:
    """What calls of one loop share: module (or op), line, the op's expression
    on that line (``Call.site``: None where unknown, when the line alone decides),
    signature. None without a line: nothing says two such calls are one statement."""
    location = call.location
    if location is None:
        return None
    site = call.site if call.kind == "op" else None
    return (call.name, location.filename, location.lineno, site, signature(call, ops=ops, depth=depth, memo=memo))


def run_name(run: Sequence[Call]) -> str:
    """``layers.0-11`` for numbered siblings, ``fc`` for one module called again."""
    return merged_name([relative_name(call) for call in run])


def merged_name(names: Sequence[str]) -> str:
    """One name for the calls of a folded run: ``layers.0-11`` for numbered
    siblings, ``encoder.layers.0-11.linear1`` for the same part of each of them
    (the one dotted part that differs), ``k_proj…v_proj`` for other siblings,
    the name itself when they share it."""
    if len(set(names)) == 1:
        return names[0]
    split = [name.split(".") for name in names]
    if len({len(parts) for parts in split}) == 1:
        differ = [k for k in range(len(split[0])) if len({parts[k] for parts in split}) > 1]
        if len(differ) == 1:
            k = differ[0]
            merged = _numbered_range([parts[k] for parts in split]) or f"{split[0][k]}…{split[-1][k]}"
            return ".".join([*split[0][:k], merged, *split[0][k + 1 :]])
    return f"{names[0]}…{names[-1]}"


def _numbered_range(names: Sequence[str]) -> str | None:
    """``conv1-3`` for ``conv1``, ``conv2``, ``conv3``; None unless consecutive."""
    numbered = [_NUMBERED.match(name) for name in names]
    if all(numbered):
        prefixes = {m.group(1) for m in numbered if m}
        numbers = [int(m.group(2)) for m in numbered if m]
        if len(prefixes) == 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{prefixes.pop()}{numbers[0]}-{numbers[-1]}"
    return None


def run_label(run: Sequence[Call]) -> str:
    """``layers.0-11 ×12``; a single call is just its name."""
    return run_name(run) + repeat_mark(run)


def repeat_mark(run: Sequence[Call]) -> str:
    """`` ×1999`` for calls of a module from its first, or for an op's steps;
    `` #2000-2001 ×2`` for a later range of a module's calls (a second loop);
    ``""`` for one call. A ``Row`` that folds passes of other batch sizes
    counts the calls of its first pass only (``conv1`` once a pass, not ×3); a
    pass's own row, every call it stands for (``Row.stands_for``: ``Net (root) ×4``)."""
    count = None
    if isinstance(run, Row):
        count = run.stands_for
        run = run.first_pass
    if len(run) < 2 and not count:
        return ""
    first, last = run[0], run[-1]
    same = first.kind == "module" and first.name == last.name
    if same and first.index and last.index - first.index + 1 == len(run) and not count:
        return f" #{first.index + 1}-{last.index + 1} ×{len(run)}"
    return f" ×{count or len(run)}"


class Row(list):  # type: ignore[type-arg]
    """A table row: the calls it folds (a list of ``Call``, first call first),
    and ``starts``, where each pass of another batch size begins among them
    (``(0,)`` when none is folded: ``render/passes.py``). The calls of one such
    pass fold as any row's do (a loop's steps, identical blocks). ``stands_for``: how
    many calls a pass's row stands for (``passes.pass_row``), else None (its first
    pass's length); ``one_pass``: under a row of alike passes folded, how many of
    its first calls one pass made (``fc ×1``, not ``×41`` under ``Net (root) ×41``)."""

    def __init__(
        self,
        calls: Sequence[Call],
        starts: tuple[int, ...] = (0,),
        stands_for: int | None = None,
        one_pass: int | None = None,
    ) -> None:
        super().__init__(calls)
        self.starts = starts
        self.stands_for = stands_for
        self.one_pass = one_pass

    @property
    def first_variant(self) -> list[Call]:
        """The row's calls in its first pass (all of them with one batch size)."""
        return list(self[: self.starts[1]]) if len(self.starts) > 1 else list(self)

    @property
    def first_pass(self) -> list[Call]:
        """The row's calls in one pass: its first variant's, or their first ``one_pass``."""
        first = self.first_variant
        return first[: self.one_pass] if self.one_pass else first

    @property
    def variants(self) -> list[Call]:
        """The first call of each batch size the row folds, in the order they ran."""
        return [self[start] for start in self.starts]
