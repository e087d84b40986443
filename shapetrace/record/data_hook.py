"""Watching a DataLoader: the samples behind a failing collate, and the loaders a run used.

PyTorch's DataLoader makes a batch in ``torch.utils.data._utils.fetch``: a
fetcher reads the samples (``dataset[i]`` for each index of the batch, or the
next items of an iterable dataset) and hands them to ``collate_fn``. Only there
are the dataset indices and the samples side by side: the error collate raises
names a batch position at best ("... at entry 0 and [1, 224, 224] at entry 6")
and, in a worker process, no shape at all ("Trying to resize storage that is
not resizable", from the shared-memory batch the worker preallocates). So while
a ``DataWatch`` is active, each fetch wraps its fetcher's ``collate_fn`` for the
length of the call, and a collate error gets a note from the watch's
``explain`` function. In a worker process (forked, so the patch is inherited)
the note is part of the traceback text the main process re-raises: Python 3.11
writes notes into formatted tracebacks.

The fetchers are private to PyTorch: they are bound, and checked by the
canary test, in ``core/torch_private.py`` (``dataset_fetchers``). Where a
PyTorch has none, the loader's own ``collate_fn`` is wrapped while an iterator
is made: the note then names batch positions, not dataset indices, and says so.

Nothing here reads tensor data: a sample is reduced to its leaves' shapes and
dtypes (``shapetrace.core.samples``) only when collate has already failed.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from torch.utils.data import DataLoader, default_collate, get_worker_info

from shapetrace.core.samples import SampleLeaf, sample_leaves
from shapetrace.core.torch_private import FETCH_MODULE, DisableTorchFunction, dataset_fetchers
from shapetrace.record import frames
from shapetrace.record.loader_facts import LoaderFacts, loader_facts


@dataclasses.dataclass(frozen=True)
class CollateFailure:
    """The batch that a collate function failed on, as metadata.

    ``samples[i]`` holds the leaves of the sample at batch position ``i``.
    ``indices[i]`` is its dataset index for a map-style dataset (``None`` when
    unknown); ``first_ordinal`` is the position of ``samples[0]`` in an
    iterable dataset's stream (per worker: ``worker`` names it, ``None`` in the
    main process).
    """

    samples: tuple[tuple[SampleLeaf, ...], ...]
    indices: tuple[int, ...] | None = None
    first_ordinal: int | None = None
    worker: int | None = None
    indices_unavailable: str = ""  # why the indices are unknown, when they are


Explain = Callable[[CollateFailure], "str | None"]


def in_data_loader() -> bool:
    """Whether the caller runs inside a DataLoader's fetch (``dataset[i]``, the iterable
    dataset's ``next``, ``collate_fn``) in this thread: a module called there is a data
    transform. Known while a ``DataWatch`` is active (it patches the fetchers, which count
    who is inside them); False where this PyTorch has no fetchers to patch."""
    return _fetching.get(threading.get_ident(), 0) > 0


# Thread ident -> how many fetches it is inside (a fetch may iterate another loader).
_fetching: dict[int, int] = {}


class DataWatch:
    """While active, collate errors get ``explain``'s note and iterated loaders are listed.

    With ``explain=None`` the watch only lists loaders (``shapetrace.trace`` does, for
    the checks): it leaves ``collate_fn`` alone; a collate error gets the note of the
    innermost watch that explains.

    >>> watch = DataWatch(lambda failure: f"{len(failure.samples)} samples")
    >>> with watch:
    ...     pass
    >>> watch.loaders
    []
    """

    def __init__(
        self,
        explain: Explain | None,
        *,
        on_fetch: Callable[..., None] | None = None,
        on_collate: Callable[[bool], None] | None = None,
    ) -> None:
        self.explain = explain
        # Told (True, None, False) as a fetch starts here, (False, batch, stacked) as it ends (batch None:
        # it raised; stacked: default_collate's): it tells data transforms from the model, and numbers
        # the batch's tensors.
        self.on_fetch = on_fetch
        # Told True as a collate_fn of the user's own starts, False as it returns (its ops, which
        # made the batch, may be recorded).
        self.on_collate = on_collate
        self.loaders: list[LoaderFacts] = []
        # Made at the first loader: every trace makes a watch, and making a
        # WeakSet was 0.13% of NHITS's traced forward (py-spy).
        self._seen: weakref.WeakSet[DataLoader] | None = None

    def __enter__(self) -> DataWatch:
        if not _active:
            _install()
        _active.append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self in _active:
            _active.remove(self)
        if not _active:
            _uninstall()

    # ------------------------------------------------------------ callbacks
    def loader_started(self, loader: DataLoader) -> None:
        if self._seen is None:
            self._seen = weakref.WeakSet()
        elif loader in self._seen:
            return
        self._seen.add(loader)
        self.loaders.append(loader_facts(loader, frames.location_of(frames.first_user_frame(sys._getframe(2)))))

    def note(self, error: BaseException, failure: CollateFailure) -> None:
        if self.explain is None:
            return
        try:
            text = self.explain(failure)
        except Exception:  # a note is a courtesy: never replace the user's error with ours
            return
        if text and hasattr(error, "add_note"):
            error.add_note(text)


_active: list[DataWatch] = []


def _explaining() -> DataWatch | None:
    """The innermost active watch that notes collate errors."""
    return next((watch for watch in reversed(_active) if watch.explain is not None), None)


_originals: dict[tuple[type, str], Any] = {}
_consumed: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # samples an iterable dataset gave


def _install() -> None:
    fetchers = _fetchers()
    if fetchers is not None:
        map_fetcher, iterable_fetcher = fetchers
        _patch(map_fetcher, "fetch", lambda original: _watched_fetch(original, iterable=False))
        _patch(iterable_fetcher, "fetch", lambda original: _watched_fetch(original, iterable=True))
    wrap = fetchers is None
    _patch(DataLoader, "__iter__", lambda original: _watched_iter(original, wrap_collate=wrap), wrap)


def _uninstall() -> None:
    for (cls, name), original in _originals.items():
        setattr(cls, name, original)
    _originals.clear()


# (class, name, variant) -> (the original, our wrapper of it): made once, not per trace.
_wrappers: dict[tuple[type, str, bool], tuple[Any, Any]] = {}
# dataset_fetchers() (it imports a module), asked once: (the function asked, its answer)
_fetcher_classes: list[tuple[Callable, tuple[type, type] | None]] = []


def _fetchers() -> tuple[type, type] | None:
    if not _fetcher_classes or _fetcher_classes[0][0] is not dataset_fetchers:
        _fetcher_classes[:] = [(dataset_fetchers, dataset_fetchers())]
    return _fetcher_classes[0][1]


def _patch(cls: type, name: str, wrap: Callable[[Any], Any], variant: bool = False) -> None:
    original = cls.__dict__[name]
    made = _wrappers.get((cls, name, variant))
    if made is None or made[0] is not original:
        made = _wrappers[(cls, name, variant)] = (original, wrap(original))
    _originals[(cls, name)] = original
    setattr(cls, name, made[1])


def _watched_fetch(original: Callable, *, iterable: bool) -> Callable:
    explained = _explained_fetch(original, iterable=iterable)

    def fetch(self: Any, possibly_batched_index: Any) -> Any:
        thread = threading.get_ident()
        _fetching[thread] = _fetching.get(thread, 0) + 1
        listeners = [watch.on_fetch for watch in _active if watch.on_fetch is not None]
        for listener in listeners:
            listener(True, None)
        batch = None
        collate = getattr(self, "collate_fn", None)
        told = [watch.on_collate for watch in _active if watch.on_collate is not None]
        own = told and collate is not None and collate is not default_collate and getattr(self, "auto_collation", False)
        if own:
            self.collate_fn = _told_collate(collate, told)  # type: ignore[arg-type]
        try:
            batch = explained(self, possibly_batched_index)
        except BaseException as error:
            frames.strip_recording_frames(error)  # the user sees torch's frames and their own
            raise
        finally:
            if own:
                self.collate_fn = collate
            stacked = collate is default_collate  # dim 0: the batch
            for listener in reversed(listeners):
                listener(False, batch, stacked)
            depth = _fetching.pop(thread) - 1
            if depth:
                _fetching[thread] = depth
        return batch

    return fetch


def _told_collate(collate: Callable, told: list[Callable[[bool], None]]) -> Callable:
    """``collate`` telling ``told`` as it starts and returns."""

    def collate_told(data: Any) -> Any:
        for listener in told:
            listener(True)
        try:
            return collate(data)
        finally:
            for listener in reversed(told):
                listener(False)

    return collate_told


def _explained_fetch(original: Callable, *, iterable: bool) -> Callable:
    def fetch(self: Any, possibly_batched_index: Any) -> Any:
        watch = _explaining()
        if watch is None or not self.auto_collation:
            return original(self, possibly_batched_index)
        collate = self.collate_fn
        start, indices = (_consumed.get(self, 0), None) if iterable else (None, tuple(possibly_batched_index))

        def collate_watched(data: Sequence[Any]) -> Any:
            if iterable:
                _consumed[self] = (start or 0) + len(data)
            try:
                return collate(data)
            except Exception as error:
                worker = get_worker_info()
                watch.note(
                    error,
                    CollateFailure(
                        _leaves_of(data),
                        indices if indices and len(indices) == len(data) else None,
                        start,
                        worker.id if worker is not None else None,
                    ),
                )
                frames.strip_recording_frames(error)  # the user sees torch's frames and their own
                raise

        self.collate_fn = collate_watched
        try:
            return original(self, possibly_batched_index)
        except BaseException as error:
            frames.strip_recording_frames(error)
            raise
        finally:
            self.collate_fn = collate

    return fetch


class _PositionsCollate:
    """The loader's collate function, noting failures with batch positions only.

    A class, not a closure: worker processes started with ``spawn`` pickle it.
    """

    def __init__(self, collate: Callable, watch: DataWatch) -> None:
        self.collate, self.watch = collate, watch

    def __call__(self, data: Sequence[Any]) -> Any:
        try:
            return self.collate(data)
        except Exception as error:
            self.watch.note(
                error,
                CollateFailure(
                    _leaves_of(data),
                    indices_unavailable=f"this PyTorch has no {FETCH_MODULE} fetchers to read them from",
                ),
            )
            raise


def _watched_iter(original: Callable, *, wrap_collate: bool) -> Callable:
    def iterate(self: DataLoader) -> Any:
        if not _active:
            return original(self)
        for listening in list(_active):  # nested watches each list the loaders of their block
            listening.loader_started(self)
        watch = _explaining()
        if watch is None or not wrap_collate or (self.batch_size is None and self.batch_sampler is None):
            return original(self)
        collate = self.collate_fn
        self.collate_fn = _PositionsCollate(collate, watch)  # the iterator takes it when made
        try:
            return original(self)
        finally:
            self.collate_fn = collate

    return iterate


def _leaves_of(data: Sequence[Any]) -> tuple[tuple[SampleLeaf, ...], ...]:
    if not isinstance(data, (list, tuple)):
        return ()
    with DisableTorchFunction():  # no mode or tensor subclass of the user's sees the reads
        return tuple(sample_leaves(sample) for sample in data)
