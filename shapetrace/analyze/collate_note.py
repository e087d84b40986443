"""Naming the sample that breaks a batch: the note a collate error gets.

``default_collate`` stacks each leaf of the samples with ``torch.stack``,
which needs equal shapes (PyTorch: "stack expects each tensor to be equal
size"). A batch that fails is explained leaf by leaf: where most samples agree
and a few differ, the few are named by dataset index, batch position and shape
(an odd grayscale image among RGB ones); where no shape is the majority, the
leaf has a variable length, which needs padding, not a fix to one sample.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence

from shapetrace.core.samples import SampleLeaf
from shapetrace.core.text import format_dims
from shapetrace.record.data_hook import CollateFailure, DataWatch

# Samples named one by one before the rest are counted.
_MAX_NAMED = 5


def explain_collate(failure: CollateFailure) -> str | None:
    """The note for a collate error, or ``None`` when every leaf agrees (the error is not about shapes).

    >>> import torch
    >>> from shapetrace.core.samples import sample_leaves
    >>> batch = [sample_leaves({"image": torch.zeros(3, 8, 8)})] * 3 + [sample_leaves({"image": torch.zeros(1, 8, 8)})]
    >>> print(explain_collate(CollateFailure(tuple(batch), indices=(34, 35, 36, 37))))  # doctest: +ELLIPSIS
    shapetrace: collate failed on a batch of 4 samples (dataset indices 34-37)
      image: dataset index 37 (batch position 3) is (1, 8, 8); the other 3 are (3, 8, 8)
      help: make every image (3, 8, 8) in the dataset's __getitem__: ... image.expand(3, -1, -1) ...
    """
    samples = failure.samples
    if not samples:
        return None
    lines: list[str] = []
    hints: list[str] = []
    for path, leaves in _by_path(samples).items():
        _explain_leaf(path, leaves, failure, lines, hints)
    if not lines:
        return None
    head = f"shapetrace: collate failed on a batch of {len(samples)} samples{_where(failure)}"
    return "\n".join([head, *(f"  {line}" for line in lines), *(f"  help: {hint}" for hint in dict.fromkeys(hints))])


@contextlib.contextmanager
def trace_data() -> Iterator[DataWatch]:
    """Name the sample behind a DataLoader's collate error, for the block's duration.

    >>> with shapetrace.trace_data() as watch:       # doctest: +SKIP
    ...     for batch in loader:                      # a (1, 8, 8) image at index 37 among (3, 8, 8)
    ...         ...
    RuntimeError: stack expects each tensor to be equal size, but got [3, 8, 8] at entry 0 and [1, 8, 8] at entry 5
    shapetrace: collate failed on a batch of 8 samples (dataset indices 32-39)
      image: dataset index 37 (batch position 5) is (1, 8, 8); the other 7 are (3, 8, 8)

    The error keeps its type and frames and gains a note (``exception.__notes__``)
    naming the key or tuple position (``image``, ``[0]``), the dataset index
    (map-style datasets) or the sample's ordinal in the stream (iterable ones),
    its shape against the majority's, and the batch positions. With
    ``num_workers > 0`` PyTorch re-raises the worker's error as text: the note is
    in that text (worker processes started by ``fork``, Linux's default; under
    ``spawn`` workers do not inherit the watch). Works with the default collate
    and with a ``collate_fn`` of the user's (``torch.stack``/``torch.cat``),
    dict, tuple, nested and dataclass samples.

    Yields the ``DataWatch``: ``watch.loaders`` lists each DataLoader iterated
    in the block (its length, ``batch_size``, ``drop_last``, last batch size).
    Nothing is recorded of batches that collate; no tensor data is read.
    """
    with DataWatch(explain_collate) as watch:
        yield watch


def _by_path(samples: Sequence[tuple[SampleLeaf, ...]]) -> dict[str, list[SampleLeaf | None]]:
    paths: dict[str, list[SampleLeaf | None]] = {}
    for position, leaves in enumerate(samples):
        for leaf in leaves:
            paths.setdefault(leaf.path, [None] * len(samples))[position] = leaf
    return paths


def _explain_leaf(
    path: str, leaves: list[SampleLeaf | None], failure: CollateFailure, lines: list[str], hints: list[str]
) -> None:
    label = path or "the sample"
    missing = [position for position, leaf in enumerate(leaves) if leaf is None]
    if missing:
        others = len(leaves) - len(missing)
        lines.append(f"{label}: missing from {_samples(missing, failure)}; the other {others} have it")
        hints.append(f"return the same keys from every sample, or write a collate_fn that fills in a missing {label}")
        return
    shapes = [leaf.shape for leaf in leaves if leaf is not None]
    counts = Counter(shapes)
    if len(counts) == 1:
        return
    common, how_many = counts.most_common(1)[0]
    if common is not None and how_many > len(shapes) / 2:
        odd = [position for position, shape in enumerate(shapes) if shape != common]
        for position in odd[:_MAX_NAMED]:
            lines.append(
                f"{label}: {_sample(position, failure)} is {_shape(shapes[position])}; "
                f"the other {how_many} are {_shape(common)}"
                if len(odd) == 1
                else f"{label}: {_sample(position, failure)} is {_shape(shapes[position])}; "
                f"{how_many} of {len(shapes)} are {_shape(common)}"
            )
        if len(odd) > _MAX_NAMED:
            lines.append(f"{label}: and {len(odd) - _MAX_NAMED} more samples not {_shape(common)}")
        hints.append(_odd_hint(label, common, [shapes[p] for p in odd]))
        return
    lines.append(f"{label}: {_variable(shapes)}")
    hints.append(
        f"pad {label} in a collate_fn (torch.nn.utils.rnn.pad_sequence(batch, batch_first=True) for "
        f"sequences) or resize it in the dataset, since no one shape is the majority"
    )


def _variable(shapes: list[tuple[int, ...] | None]) -> str:
    ranks = {len(shape) for shape in shapes if shape is not None}
    distinct = len(set(shapes))
    if len(ranks) == 1 and None not in shapes:
        rank = ranks.pop()
        varying = [axis for axis in range(rank) if len({shape[axis] for shape in shapes if shape is not None}) > 1]
        parts = [
            f"axis {axis} from {min(s[axis] for s in shapes if s)} to {max(s[axis] for s in shapes if s)}"
            for axis in varying
        ]
        return f"{distinct} different shapes in {len(shapes)} samples: {', '.join(parts)} varies"
    return f"{distinct} different shapes in {len(shapes)} samples: " + ", ".join(
        _shape(shape) for shape in list(dict.fromkeys(shapes))[:_MAX_NAMED]
    )


def _odd_hint(label: str, common: tuple[int, ...], odd: list[tuple[int, ...] | None]) -> str:
    hint = f"make every {label} {_shape(common)} in the dataset's __getitem__"
    kinds = {shape for shape in odd}
    if (
        len(common) >= 3
        and kinds
        and all(s is not None and len(s) == len(common) and s[1:] == common[1:] for s in kinds)
    ):
        channels = {s[0] for s in kinds if s is not None}
        if common[0] == 3 and channels == {1}:
            return hint + f": a grayscale (1, H, W) one becomes RGB: {label}.expand(3, -1, -1) (PIL: .convert('RGB'))"
        if common[0] == 3 and channels == {4}:
            return hint + f": an RGBA one (4, H, W) loses its alpha with {label}[:3] (PIL: .convert('RGB'))"
    return hint + ", or drop the odd samples from the dataset"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "not a tensor" if shape is None else format_dims(shape)


def _sample(position: int, failure: CollateFailure) -> str:
    if failure.indices is not None:
        return f"dataset index {failure.indices[position]} (batch position {position})"
    if failure.first_ordinal is not None:
        stream = "the stream" if failure.worker is None else f"worker {failure.worker}'s stream"
        return f"sample {failure.first_ordinal + position} of {stream} (batch position {position})"
    return f"batch position {position}"


def _samples(positions: list[int], failure: CollateFailure) -> str:
    named = ", ".join(_sample(p, failure) for p in positions[:_MAX_NAMED])
    return named + (f" and {len(positions) - _MAX_NAMED} more" if len(positions) > _MAX_NAMED else "")


def _where(failure: CollateFailure) -> str:
    if failure.indices:
        indices = failure.indices
        if list(indices) == list(range(indices[0], indices[0] + len(indices))):
            return f" (dataset indices {indices[0]}-{indices[-1]})"
        return f" (dataset indices {', '.join(map(str, indices[:8]))}{', ...' if len(indices) > 8 else ''})"
    if failure.first_ordinal is not None:
        stream = "the stream" if failure.worker is None else f"worker {failure.worker}'s stream"
        return f" (samples {failure.first_ordinal}-{failure.first_ordinal + len(failure.samples) - 1} of {stream})"
    if failure.indices_unavailable:
        return f" (dataset indices unknown: {failure.indices_unavailable}; batch positions follow)"
    return ""
