"""Data transforms under ``shapetrace.trace``: modules called inside a DataLoader's fetch.

A training loop traced with ``with shapetrace.trace(model):`` iterates its
DataLoader inside the block, and the dataset may call ``nn.Module`` transforms
(torchvision's ``Normalize`` is one) once per sample: 60,000 calls an epoch
for MNIST. While a fetch runs (``record/data_hook.py`` tells the recorder),
the recorder records the first call of each input signature of each such
module, counts the others (``TransformFilter``), and records no op outside
them: the dataset's own indexing is loading, not the model. The views then
fold those calls into one "data transform" entry each, after the models
(``render/sections.py``, from ``Trace.run_info["in_loader"]``/``["passes"]``,
as the script runner writes them).
"""

from __future__ import annotations

from collections.abc import Hashable

from torch import nn

from shapetrace.core.tensor_meta import collect_metas
from shapetrace.record.module_keys import made_with

MAX_SIGNATURES = 8  # recorded calls per transform module; later new signatures are only counted


class TransformFilter:
    """Which top-level module calls inside a fetch to record.

    ``counts``: recorded call id -> how many calls it stands for (itself and
    the later calls of its module with the same input signature; calls past
    ``MAX_SIGNATURES`` signatures count towards the module's first).
    """

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self._recorded: dict[tuple[Hashable, tuple], int] = {}  # (module id, signature) -> call id
        self._first: dict[Hashable, int] = {}  # module id -> its first recorded call id

    def accept(self, module: nn.Module, args: tuple, kwargs: dict, call_id: int, key: Hashable) -> bool:
        """Whether to record this call (the next call's id is ``call_id``); ``key``
        stands for ``module`` (``ModuleKeys.pass_key``)."""
        signature = tuple((m.path, m.shape, m.dtype, m.device) for m in collect_metas((args, kwargs)))
        known = self._recorded.get((key, signature))
        if known is None and sum(1 for recorded in self._recorded if recorded[0] == key) >= MAX_SIGNATURES:
            known = self._first[key]
        if known is not None:
            self.counts[known] += 1
            return False
        self._recorded[(key, signature)] = call_id
        self._first.setdefault(key, call_id)
        self.counts[call_id] = 1
        return True

    def forget(self, key: int) -> None:
        """The module of ``key`` was freed: a module given its id later is another one."""
        self._first = {known: at for known, at in self._first.items() if not made_with(known, key)}
        self._recorded = {seen: at for seen, at in self._recorded.items() if not made_with(seen[0], key)}

    def run_info(self, roots: list[int]) -> dict[str, list]:
        """``in_loader`` and ``passes`` for ``Trace.run_info``, one entry per
        top-level module call (``roots``: their ids, in order); empty when no
        transform was recorded."""
        if not self.counts:
            return {}
        return {
            "in_loader": [call_id in self.counts for call_id in roots],
            "passes": [self.counts.get(call_id, 1) for call_id in roots],
        }
