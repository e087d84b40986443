"""What the DataLoaders a run iterated were set to (``LoaderFacts``), read when each is
iterated (data_hook.py), and the notes they give the report."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, default_collate

from shapetrace.core.records import Location
from shapetrace.core.text import format_list, format_location, is_library_file
from shapetrace.record import frames


@dataclasses.dataclass(frozen=True)
class LoaderFacts:
    """What a DataLoader iterated during a run was set to.

    ``num_samples`` is ``len(dataset)`` (``None`` for an iterable dataset
    without a length); ``batch_size`` is ``None`` with a custom batch sampler.
    ``location`` is the user's line that started iterating it.
    """

    location: Location | None
    num_samples: int | None
    batch_size: int | None
    drop_last: bool
    sampler: str
    num_replicas: int | None = None  # a DistributedSampler's world size
    samples_per_rank: int | None = None
    default_collate: bool = True  # PyTorch's own: it stacks the samples along a new dim 0
    num_workers: int = 0  # worker processes: what the dataset runs there is not recorded
    getitem: Location | None = None  # the user's Dataset.__getitem__ (its def line), where samples are made
    collate: Location | None = None  # the user's collate_fn (its def line), where batches are made

    @property
    def last_batch(self) -> int | None:
        """The size of the last batch of an epoch when it is short, else ``None``
        (``drop_last=True`` drops it: ``len(dataset) % batch_size`` samples are unused)."""
        count = self.samples_per_rank if self.samples_per_rank is not None else self.num_samples
        if count is None or not self.batch_size:
            return None
        rest = count % self.batch_size
        return rest or None

    def as_info(self) -> dict[str, Any]:
        """JSON-ready, for ``Trace.run_info["loaders"]`` (the checks read it there).

        ``"location"`` is written as the report writes a line, and as the
        run's other notes hold theirs (``format_location``): relative to the
        working directory (``train.py:41``), a library's to its site-packages
        (``pytorch_lightning/loops/fit_loop.py:120``), so a saved trace names no
        folder of the machine that made it and loads back as it was written.

        >>> LoaderFacts(None, 100, 32, False, "SequentialSampler").as_info()["last_batch"]
        4
        """
        return {
            "location": format_location(self.location) if self.location is not None else None,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "last_batch": None if self.drop_last else self.last_batch,
            "drop_last": self.drop_last,
            "default_collate": self.default_collate,
            **({"num_workers": self.num_workers} if self.num_workers else {}),
            **({"getitem": format_location(self.getitem)} if self.getitem is not None else {}),
            **({"collate": format_location(self.collate)} if self.collate is not None else {}),
        }

    def worker_note(self) -> str | None:
        """One line when the loader loads in worker processes, else None: the dataset, its transforms
        and collate run there, out of reach (the batches handed over are recorded as any input).

        >>> LoaderFacts(None, 100, 32, False, "SequentialSampler", num_workers=2).worker_note()  # doctest: +ELLIPSIS
        'data loading (the dataset, its transforms, collate) ran in 2 DataLoader workers and was not recorded; ...'
        """
        return worker_notes([self])[0] if self.num_workers else None


def worker_notes(loaders: Sequence[LoaderFacts]) -> list[str]:
    """``LoaderFacts.worker_note`` of each loader with workers, one line for the
    loaders with as many workers (a trainer makes a loader per ``fit``), naming
    each line that iterated one: a library's relative to its site-packages, the
    user's relative to the working directory, as the report writes lines."""
    places: dict[int, list[str]] = {}
    for loader in loaders:
        if loader.num_workers:
            where = places.setdefault(loader.num_workers, [])
            if loader.location is not None and format_location(loader.location) not in where:
                where.append(format_location(loader.location))
    notes = []
    for count, where in places.items():
        workers = f"{count} DataLoader worker{'s' * (count != 1)}"
        named = f" (the DataLoader{'s' * (len(where) > 1)} at {format_list(where)})" if where else ""
        notes.append(
            f"data loading (the dataset, its transforms, collate) ran in {workers}{named} and was not recorded; "
            "set num_workers=0 to trace it"
        )
    return notes


def loader_facts(loader: DataLoader, location: Location | None) -> LoaderFacts:
    """The facts of ``loader``, iterated from the user's ``location``."""
    dataset, sampler = loader.dataset, loader.sampler
    try:
        num_samples: int | None = None if isinstance(dataset, IterableDataset) else len(dataset)  # type: ignore[arg-type]
    except TypeError:
        num_samples = None
    replicas = per_rank = None
    if isinstance(sampler, DistributedSampler):
        replicas, per_rank = sampler.num_replicas, len(sampler)
    return LoaderFacts(
        location,
        num_samples,
        loader.batch_size,
        bool(loader.drop_last),
        type(sampler).__name__,
        replicas,
        per_rank,
        loader.collate_fn is default_collate,
        loader.num_workers if isinstance(loader.num_workers, int) else 0,
        _user_function(getattr(type(dataset), "__getitem__", None)),
        _user_function(loader.collate_fn),
    )


def _user_function(function: object) -> Location | None:
    """Where a function the user wrote is defined (a Dataset's ``__getitem__``, a
    ``collate_fn``; not PyTorch's TensorDataset or default_collate): read from the
    function's code object, with no call."""
    code = getattr(function, "__code__", None)
    if code is None or frames.is_internal(code) or is_library_file(code.co_filename):
        return None
    return frames.definition_of(function)
