"""What the tree and the graph show of the call tree.

Both views cut the tree at a depth, may leave ops out, and fold a run of
identical sibling calls (the 12 layers of a transformer) into one entry
named ``layers.0-11 ×12`` that shows the first of them.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

from shapetrace.core.records import Call

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def is_shown(call: Call, *, ops: bool, depth: int | None) -> bool:
    """Whether a view draws ``call``: ops only with ``ops``, nothing deeper than ``depth``."""
    return (ops or call.kind == "module") and (depth is None or call.depth <= depth)


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


def signature(call: Call, *, ops: bool, depth: int | None) -> Hashable:
    """Everything two calls must share to be drawn as one: type, shapes, params,
    and the same for their shown children; not their names or places."""
    return (call.kind, call.type, call.num_params if call.kind == "module" else call.name,
            tuple((m.path, m.shape, m.dtype, m.device, m.stride) for m in call.inputs),
            tuple((m.path, m.shape, m.dtype, m.device, m.stride) for m in call.outputs),
            tuple((relative_name(child), signature(child, ops=ops, depth=depth))
                  for child in shown_children(call, ops=ops, depth=depth)))


def repeated_runs(calls: Sequence[Call], *, ops: bool, depth: int | None) -> list[list[Call]]:
    """Consecutive module calls with one signature, grouped; other calls alone.

    >>> [len(run) for run in repeated_runs(encoder.children, ops=False, depth=2)]
    [12]
    """
    runs: list[list[Call]] = []
    previous: Hashable = None
    for call in calls:
        key = signature(call, ops=ops, depth=depth) if call.kind == "module" else None
        if runs and key is not None and key == previous:
            runs[-1].append(call)
        else:
            runs.append([call])
        previous = key
    return runs


def run_name(run: Sequence[Call]) -> str:
    """``layers.0-11`` for numbered siblings, ``fc`` for one module called again."""
    names = [relative_name(call) for call in run]
    if len(set(names)) == 1:
        return names[0]
    numbered = [_NUMBERED.match(name) for name in names]
    if all(numbered):
        prefixes = {m.group(1) for m in numbered if m}
        numbers = [int(m.group(2)) for m in numbered if m]
        if len(prefixes) == 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{prefixes.pop()}{numbers[0]}-{numbers[-1]}"
    return f"{names[0]}…{names[-1]}"


def run_label(run: Sequence[Call]) -> str:
    """``layers.0-11 ×12``; a single call is just its name."""
    return run_name(run) + (f" ×{len(run)}" if len(run) > 1 else "")
