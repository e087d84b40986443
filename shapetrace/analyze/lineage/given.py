"""A pass's input axes born outside the model: the model's given data.

The checks tell the data a model is given (``input#`` axes: a per-sample mask, the
batch of a DataLoader) from the tensors it makes itself. An input that no recorded
op made gets ``input#`` axes; one that the script's own ops made outside any module
(``torch.randn(4, 6, 32)``, ``torch.cat([bos, tgt[:, :-1]], 1)``, which ``trace()``
records, and ``shapetrace run`` too where they made a pass's inputs) would carry the
axes of those ops instead, and look made by code. So each such axis gets an
``input#`` stand-in as it enters the pass, and the stand-in remembers the axis it
stands for: the clues about the data outside the model (a window cut one step apart,
a DataLoader's batch read by a slice) follow it in (``outside_axis``). Axes a module
made (a previous pass's output, a state handed on) enter as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shapetrace.analyze.lineage.atoms import COPIES, Atom, Lineage
from shapetrace.core.records import Call

# The id of the call an axis was born in, in its origin (``randn#12:0``, ``unknown#3[0]:1``).
_BORN_IN = re.compile(r"#(\d+)")
_KEPT = ("input#", COPIES)


class GivenAxes:
    """The stand-ins of one trace's passes' input axes born outside the model."""

    def __init__(self) -> None:
        self.outside_ops: set[int] = set()  # ids of the ops outside any module, filled as lineage visits them
        self._outside: dict[tuple[str, int], Atom] = {}  # a stand-in's (origin, stride) -> the axis it stands for

    def outside_axis(self, atom: Atom) -> Atom:
        return self._outside.get((atom.origin, atom.stride), atom)

    def stand_ins(self) -> Iterator[tuple[Atom, Atom]]:
        for (origin, stride), outside in self._outside.items():
            yield Atom(origin, outside.size, stride), outside

    def pass_inputs(self, call: Call, ins: list[Lineage]) -> list[Lineage]:
        """The lineage of each input of the pass ``call`` as the model takes it: an axis born
        outside any module becomes the stand-in ``input#<call>[<path>]:<dim>``, one per
        outside axis in the pass (two inputs cut from one batch share their batch axis)."""
        given: dict[tuple[str, int], Atom] = {}
        return [
            tuple(
                tuple(self._stand_in(atom, call, meta.path, d, j, given) for j, atom in enumerate(dim))
                for d, dim in enumerate(lineage)
            )
            for meta, lineage in zip(call.inputs, ins)
        ]

    def _stand_in(self, atom: Atom, call: Call, path: str, d: int, j: int, given: dict) -> Atom:
        born = _BORN_IN.search(atom.origin)
        if born is None or int(born.group(1)) not in self.outside_ops or atom.origin.startswith(_KEPT):
            return atom  # (copies are how a tensor was repeated, not an axis of the data: ST025 reads them)
        key = (atom.origin, atom.stride)
        stand_in = given.get(key)
        if stand_in is None:
            suffix = f".{j}" if j else ""  # (a dim merged of several axes: one stand-in each)
            stand_in = given[key] = Atom(f"input#{call.id}[{path}]:{d}{suffix}", atom.size, atom.stride)
            self._outside[(stand_in.origin, stand_in.stride)] = atom
        return stand_in if stand_in.size == atom.size else stand_in.resized(atom.size)
