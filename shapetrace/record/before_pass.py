"""The ops that made a pass's inputs, for ``shapetrace run``.

The script runner records the model's passes, not the script's ops around
them: a training loop's optimizer steps and metrics would bury the trace. But
the code that builds a pass's inputs outside the model is where a layout is
decided (``torch.cat([bos, tgt[:, :-1]], dim=1)`` of a DataLoader's batch,
``source[i:i + bptt]`` of a corpus laid out seq-first, ``x.transpose(0, 1)``):
without it, which axis of the input is the batch is a guess. So the ops outside
any module are recorded aside as they run, the last ``KEPT`` of them, each code
site ``PER_SITE`` times at most (a loop preparing data runs one site thousands
of times, and only the last runs before a pass can matter); when a recorded pass
starts, those that made its inputs, followed back by tensor identity, join the
trace before it; the rest wait for the loss after the pass (its target was cut
from the same batch), and go when the next pass starts.

The op mode records aside before the first pass and after each recorded one
until the next starts; after a pass left out it is off outside the model (a
training loop's every step would pay for it) until a DataLoader yields a batch
of shapes no batch had (the short last batch of an epoch, whose pass is
recorded: ``new_batch``). A pass of new shapes made without a DataLoader, after
passes left out, comes without the ops that made it.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from shapetrace.core.records import Call, Location
from shapetrace.record.events import Event

# How many ops outside the model are kept aside, the newest; and how many times
# one code site (line and op) is recorded before its next runs go unrecorded.
KEPT = 256
PER_SITE = 64


class BeforePass:
    """The ops outside the model recorded aside since the last pass started."""

    def __init__(self) -> None:
        self.calls: deque[Call] = deque(maxlen=KEPT)
        # The recorder swaps these in while it records an op aside: the op's
        # record lands in ``scratch``, its ``index`` counted in ``counts``.
        self.scratch: list[Any] = []
        self.counts: dict[tuple[int, str], int] = {}
        self._sites: dict[tuple[int, str], int] = {}
        # What the last pass's start left, which a loss after it may read.
        self.pending: list[Call] = []
        # The ids of the ops taken into the trace: the table leaves them to the tree
        # and the JSON trace, with a line saying so (render/sections.py, ``made_before``).
        self.taken: list[int] = []
        # The user's line that called the function an op ran in, by the op's record while
        # aside (weakly: it goes with the record), and by its id once in the trace
        # (``[id, file, line, code, function]``, as the JSON trace keeps it: ``called_from``).
        self._callers: weakref.WeakKeyDictionary[Call, Location] = weakref.WeakKeyDictionary()
        self.called_from: list[list] = []
        self._batch_shapes: set[tuple] = set()  # of the DataLoader batches met (``new_batch``)
        # A left-out pass's output number -> the recorded pass's (``stand_in``), and the
        # numbers each module's last left-out pass put there (replaced by its next).
        self._aliases: dict[int, int] = {}
        self._aliased_by: dict[int, list[int]] = {}

    def stand_in(
        self,
        module_id: int,
        leaves: list[torch.Tensor],
        recorded: Event | None,
        identity: Callable[[torch.Tensor], int],
    ) -> None:
        """A pass of module ``module_id`` left out returned the tensors ``leaves``: they stand for
        the outputs of ``recorded``, the module's last recorded pass (the same input
        shapes), when they match it one for one in shape. An op that reads one (the
        state a loop carries, ``h.detach()``) then reads that output, as in a trace that
        records every pass: its origin is told (``aliased``). Only the last pass left
        out of each module is kept: memory stays flat over a long run."""
        if recorded is None:
            return
        outputs = recorded.outputs
        numbers = recorded.tensor_ids[len(recorded.inputs) :]
        if len(leaves) != len(outputs) or len(numbers) != len(outputs):
            return
        if any(tuple(leaf.shape) != meta.shape for leaf, meta in zip(leaves, outputs)):
            return
        for stale in self._aliased_by.pop(module_id, ()):
            self._aliases.pop(stale, None)
        made = [identity(leaf) for leaf in leaves]
        self._aliases.update(zip(made, numbers))
        self._aliased_by[module_id] = made

    def aliased(self, numbers: tuple[int, ...], inputs: int) -> tuple[int, ...]:
        """``numbers`` (a record's ``tensor_ids``) with its first ``inputs`` read through ``stand_in``."""
        if not self._aliases:
            return numbers
        aliases = self._aliases
        return (*(aliases.get(number, number) for number in numbers[:inputs]), *numbers[inputs:])

    def new_batch(self, leaves: list[torch.Tensor]) -> bool:
        """Whether a DataLoader's batch (its tensors, ``leaves``) has shapes no batch had before
        (the short last batch of an epoch): after a pass left out the op mode is off outside
        the model, and the recorder turns it on for such a batch, whose pass will be recorded."""
        shapes = tuple(tuple(leaf.shape) for leaf in leaves)
        if not shapes or shapes in self._batch_shapes:
            return False
        self._batch_shapes.add(shapes)
        return True

    def wanted(self, location: object, name: str) -> bool:
        """Whether an op ``name`` at ``location`` is recorded aside (its site is not spent)."""
        key = (id(location), name)
        seen = self._sites.get(key, 0)
        if seen >= PER_SITE:
            if seen == PER_SITE:  # spent now: its records go too, none is kept of a loop cut short
                self._sites[key] = seen + 1
                self.calls = deque((call for call in self.calls if (id(call.location), call.name) != key), KEPT)
            return False
        self._sites[key] = seen + 1
        return True

    def keep(self, caller: Location | None = None) -> None:
        """Move the op just recorded into ``scratch`` to the kept ones; ``caller``: the
        user's line that called the function it ran in (``frames.caller_location``)."""
        if caller is not None:
            self._callers.update(dict.fromkeys(self.scratch, caller))
        self.calls.extend(self.scratch)
        self.scratch.clear()

    def take(self, input_ids: set[int], events: list, counts: dict[tuple[int, str], int]) -> None:
        """A recorded pass whose input tensors have the numbers ``input_ids`` starts: append
        to ``events`` the ops kept aside that made them, directly or through other such
        ops, in the order they ran, numbered as the trace numbers its records (an
        event's ``id`` is its index; ``index`` counts the op's calls at its site in
        ``counts``). Then start afresh, for the next pass."""
        made: list[Call] = []
        rest: list[Call] = []
        needed = set(input_ids)
        for call in reversed([*self.pending, *self.calls]):
            outputs = call.tensor_ids[len(call.inputs) :]
            if needed.intersection(outputs):
                made.append(call)
                needed.update(call.tensor_ids[: len(call.inputs)])
            else:
                rest.append(call)
        for call in reversed(made):
            key = (id(call.location), call.name)
            index = counts.get(key, 0)
            counts[key] = index + 1
            # (records are frozen once in the trace; these were never shared)
            call.__dict__.update(
                id=len(events), index=index, tensor_ids=self.aliased(call.tensor_ids, len(call.inputs))
            )
            self.taken.append(call.id)
            caller = self._callers.get(call)
            if caller is not None:
                self.called_from.append([call.id, caller.filename, caller.lineno, caller.code, caller.function])
            events.append(call)
        self.clear()
        # Until the next pass, a loss (a module call, or an op: ``take`` again) may read
        # what they made: the target cut from the batch beside the input.
        self.pending = rest[KEPT - 1 :: -1]

    def clear(self) -> None:
        self.calls.clear()
        self.pending = []
        self._sites.clear()
        self.counts.clear()
