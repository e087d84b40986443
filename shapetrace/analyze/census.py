"""A shape census of a dataset: which shapes each key takes, how often, and where first.

Read sample by sample from the dataset itself, never through the loader: the
loader would collate, and a batch with an odd sample is exactly what fails.
The batch facts (the short last batch, the per-rank split of a
``DistributedSampler``) come from the loader's own settings and the sampler's
own ``len()``, not from a formula of ours.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from shapetrace.analyze.checks._source import parsed_file
from shapetrace.core.records import Call
from shapetrace.core.samples import sample_leaves
from shapetrace.core.text import format_dims, format_list, format_location
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.loader_facts import LoaderFacts


@dataclasses.dataclass(frozen=True)
class ShapeCount:
    """One shape and dtype of a key: ``count`` samples have it, the first at ``first_index``."""

    shape: tuple[int, ...] | None
    dtype: str
    count: int
    first_index: int


@dataclasses.dataclass(frozen=True)
class KeyCensus:
    """Every shape one key (``image``, ``[0]``) took, most common first.

    ``varying_axes`` maps each axis whose size changes between samples (for
    keys of one rank) to its ``(min, max)``: a variable length to pad or bucket.
    """

    path: str
    shapes: tuple[ShapeCount, ...]
    varying_axes: dict[int, tuple[int, int]]
    missing: int = 0  # samples without this key


@dataclasses.dataclass(frozen=True)
class RankSplit:
    """What one rank of a ``DistributedSampler`` gets: samples, batches, its last batch."""

    rank: int
    num_samples: int
    num_batches: int
    last_batch: int


@dataclasses.dataclass(frozen=True)
class BatchFacts:
    """The loader's batching: ``last_batch`` is the short last batch's size
    (``len(dataset) % batch_size``; 0 when the batches come out even), dropped
    when ``drop_last`` is set. ``padded`` counts the samples a
    ``DistributedSampler`` repeats to give every rank the same number."""

    batch_size: int
    drop_last: bool
    num_batches: int
    last_batch: int
    ranks: tuple[RankSplit, ...] = ()
    padded: int = 0


@dataclasses.dataclass(frozen=True)
class Census:
    """The census of the first ``scanned`` samples of a dataset of ``length`` (``None``: unknown)."""

    scanned: int
    length: int | None
    keys: tuple[KeyCensus, ...]
    batches: BatchFacts | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: shapes as lists, everything else as is."""
        return dataclasses.asdict(self)


def take_census(
    source: Dataset | DataLoader,
    *,
    samples: int | None = None,
    progress: Callable[[Iterable[Any], int | None], Iterable[Any]] | None = None,
) -> Census:
    """Read up to ``samples`` samples (default: all) of a dataset or a loader's dataset.

    >>> import torch
    >>> data = [{"image": torch.zeros(3 if i != 37 else 1, 8, 8)} for i in range(64)]
    >>> census = take_census(DataLoader(data, batch_size=10))
    >>> [(s.shape, s.count, s.first_index) for s in census.keys[0].shapes]
    [((3, 8, 8), 63, 0), ((1, 8, 8), 1, 37)]
    >>> census.batches.last_batch
    4

    ``progress`` wraps the sample iterator (a progress bar), given the count
    expected. Raises ``ShapetraceError`` for a source that is neither a
    ``Dataset`` nor a ``DataLoader`` (anything with ``__getitem__`` and
    ``__len__`` counts as a dataset, as for ``DataLoader`` itself), and when
    reading a sample raises (naming the index).
    """
    loader = source if isinstance(source, DataLoader) else None
    dataset = loader.dataset if loader is not None else source
    if samples is not None and samples < 1:
        raise ShapetraceError("--samples must be at least 1")
    length = _length(dataset)
    wanted = length if samples is None else samples if length is None else min(samples, length)
    stream = _samples_of(dataset, wanted)
    if progress is not None:
        stream = progress(stream, wanted)
    counts: dict[str, dict[tuple[tuple[int, ...] | None, str], list[int]]] = {}
    scanned = 0
    for index, sample in stream:
        scanned += 1
        for leaf in sample_leaves(sample):
            entry = counts.setdefault(leaf.path, {}).setdefault((leaf.shape, leaf.dtype), [0, index])
            entry[0] += 1
    keys = tuple(_key_census(path, shapes, scanned) for path, shapes in counts.items())
    return Census(scanned, length, keys, _batch_facts(loader, length))


def _length(dataset: Any) -> int | None:
    if isinstance(dataset, IterableDataset):
        return None
    try:
        return len(dataset)
    except TypeError:
        return None


def _samples_of(dataset: Any, wanted: int | None) -> Iterable[tuple[int, Any]]:
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__getitem__"):
        if not hasattr(dataset, "__iter__"):
            raise ShapetraceError(f"a {type(dataset).__name__} is not a Dataset or a DataLoader")
        yield from enumerate(itertools.islice(iter(dataset), wanted))
        return
    if wanted is None:
        raise ShapetraceError(f"{type(dataset).__name__} has no len(): pass --samples N")
    for index in range(wanted):
        try:
            sample = dataset[index]
        except Exception as error:
            raise ShapetraceError(f"reading sample {index} raised {type(error).__name__}: {error}") from error
        yield index, sample


def _key_census(path: str, shapes: dict[tuple[tuple[int, ...] | None, str], list[int]], scanned: int) -> KeyCensus:
    ordered = sorted(shapes.items(), key=lambda item: (-item[1][0], item[1][1]))
    counted = tuple(ShapeCount(shape, dtype, count, first) for (shape, dtype), (count, first) in ordered)
    ranks = {len(s.shape) for s in counted if s.shape is not None}
    varying: dict[int, tuple[int, int]] = {}
    if len(ranks) == 1 and all(s.shape is not None for s in counted):
        for axis in range(ranks.pop()):
            sizes = {s.shape[axis] for s in counted if s.shape is not None}
            if len(sizes) > 1:
                varying[axis] = (min(sizes), max(sizes))
    return KeyCensus(path, counted, varying, scanned - sum(s.count for s in counted))


def _batch_facts(loader: DataLoader | None, length: int | None) -> BatchFacts | None:
    if loader is None or loader.batch_size is None or length is None:
        return None
    size, drop_last = loader.batch_size, bool(loader.drop_last)
    sampler = loader.sampler
    if isinstance(sampler, DistributedSampler):
        ranks = tuple(
            _rank_split(loader.dataset, sampler, rank, size, drop_last) for rank in range(sampler.num_replicas)
        )
        padded = max(0, sampler.total_size - length)
        first = ranks[0]
        return BatchFacts(size, drop_last, first.num_batches, first.last_batch, ranks, padded)
    return BatchFacts(size, drop_last, len(loader), length % size)


def _rank_split(dataset: Any, sampler: DistributedSampler, rank: int, batch_size: int, drop_last: bool) -> RankSplit:
    # The sampler's own arithmetic, for each rank in turn (its len() is per rank).
    split: DistributedSampler = DistributedSampler(
        dataset, num_replicas=sampler.num_replicas, rank=rank, shuffle=False, drop_last=sampler.drop_last
    )
    count = len(split)
    batches = count // batch_size if drop_last else -(-count // batch_size)
    return RankSplit(rank, count, batches, count % batch_size)


def short_batch_notes(trace: Trace, loaders: Iterable[LoaderFacts]) -> list[str]:
    """One line per short last batch a recorded model ran on.

    ``len(dataset) % batch_size`` samples make the last batch of an epoch
    (PyTorch's DataLoader keeps it unless ``drop_last=True``); a model that
    bakes in the batch size fails there, often after a whole epoch. The line
    names the loader's line, the arithmetic and the model call that saw it:
    a top-level call with parameters (the model) before one without (a padding
    or a data transform that ran on the same batch). Loaders alike in all but
    the line that iterated them (a trainer builds one per ``fit``) share a line.
    """
    roots = [call for call in trace.roots if call.kind == "module" and call.inputs and call.inputs[0].shape]
    candidates = [call for call in roots if call.num_params] + [call for call in roots if not call.num_params]
    alike: dict[tuple[int, int, int, int], list[LoaderFacts]] = {}
    for loader in loaders:
        last = loader.last_batch
        if last is None or loader.drop_last or loader.batch_size is None:
            continue
        count = loader.samples_per_rank if loader.samples_per_rank is not None else loader.num_samples
        assert count is not None
        # A call in the loop over the loader first (else in its function): a test loop's
        # short batch is not the one its training loop saw.
        here = [call for call in candidates if _in_loop(call, loader)]
        here += [call for call in candidates if call not in here and _same_function(call, loader)]
        ran = [*here, *(call for call in candidates if call not in here)]
        saw = next((call for call in ran if call.inputs[0].shape[0] == last != loader.batch_size), None)
        if saw is not None:
            alike.setdefault((count, loader.batch_size, last, saw.id), []).append(loader)
    notes = []
    for (count, size, last, seen), group in alike.items():
        saw = next(call for call in candidates if call.id == seen)
        places = list(dict.fromkeys(format_location(facts.location) for facts in group if facts.location is not None))
        where = f" at {format_list(places)}" if places else ""
        seen_at = f" at {format_location(saw.location)}" if saw.location is not None else ""
        several = len(places) > 1
        # Only where the loop over the loader made the call is it known to be that batch.
        it = "it" if all(_in_loop(saw, facts) for facts in group) else f"a batch of {last}"
        if count < size:  # one batch, and it is short
            batch = f"{'each' if several else 'its'} only batch has {last} (drop_last=False)"
        else:
            batch = (
                f"{'each' if several else 'its'} last batch has {last} "
                f"({count:,} = {count // size} × {size} + {last}, drop_last=False)"
            )
        notes.append(
            f"the DataLoader{'s' * several}{where} give{'s' * (not several)} {count:,} samples in batches of {size}: "
            f"{batch}, and {saw.type} ran on {it}{seen_at} with input {format_dims(saw.inputs[0].shape)}"
        )
    return notes


def _in_loop(call: Call, loader: LoaderFacts) -> bool:
    """Whether ``call`` was made in the body of the ``for`` statement that iterated
    ``loader`` (a script's training and validation loops share a function, ``<module>``);
    where no ``for`` statement starts at the loader's line (``next(iter(loader))``),
    whether it was made in that function."""
    made, started = call.location, loader.location
    if made is None or started is None or made.filename != started.filename:
        return False
    tree = parsed_file(started.filename)
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, (ast.For, ast.AsyncFor)) and node.lineno == started.lineno:
            return node.lineno <= made.lineno <= (node.end_lineno or node.lineno)
    return _same_function(call, loader)


def _same_function(call: Call, loader: LoaderFacts) -> bool:
    """Whether ``call`` was made in the function (file and name) whose line iterated ``loader``."""
    made, started = call.location, loader.location
    if made is None or started is None or not started.function:
        return False
    return (made.filename, made.function) == (started.filename, started.function)


__all__ = ["BatchFacts", "Census", "KeyCensus", "RankSplit", "ShapeCount", "short_batch_notes", "take_census"]
