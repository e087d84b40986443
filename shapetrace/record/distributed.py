"""Tracing under ``torchrun``: the rank, its collectives, its trace on disk.

``torch.distributed`` collectives run in C++ outside any torch function mode,
so they are recorded by wrapping the Python functions of ``torch.distributed``
(and of ``torch.distributed._functional_collectives``) while a trace runs.
Only calls from the user's own code are recorded: DDP's and FSDP's internal
collectives pass straight through, as do calls past the recording window
(the first ``window`` collectives of the run), so a long training loop costs
one frame check per collective.

Each recorded collective first writes ``trace.rank{R}.json`` (atomically: a
temporary file, then ``os.replace``), so a rank that aborts inside the
collective (gloo's ``EnforceNotMet`` on mismatched sizes) or is killed still
leaves what it recorded up to that line. With ``check=True`` the ranks then
compare fingerprints before the collective runs (see ``dist_check.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from shapetrace.core.torch_facts import COLLECTIVES, FUNCTIONAL_COLLECTIVES
from shapetrace.core.torch_private import DisableTorchFunction
from shapetrace.record import frames

if TYPE_CHECKING:
    from shapetrace.core.trace import Trace
    from shapetrace.record.dist_check import DistCheck
    from shapetrace.record.recorder import Recorder

DEFAULT_WINDOW = 64  # collectives recorded (and checked) per run


@dataclasses.dataclass(frozen=True)
class RankInfo:
    """Where this process stands in a distributed run (``torchrun``'s variables)."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def label(self) -> str:
        return f"[rank {self.rank}]"


def rank_info() -> RankInfo | None:
    """This process's rank: from ``RANK``/``WORLD_SIZE`` (set by ``torchrun``),
    else from an initialised default process group; None outside a distributed run."""
    environ = os.environ
    if "RANK" in environ and "WORLD_SIZE" in environ:  # (no KeyError raised per trace outside torchrun)
        try:
            rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
            return RankInfo(rank, world, int(environ.get("LOCAL_RANK", rank)))
        except (KeyError, ValueError):
            pass
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return RankInfo(dist.get_rank(), dist.get_world_size(), dist.get_rank())
    return None


def rank_path(directory: str, rank: int, suffix: str = ".json") -> str:
    return os.path.join(directory, f"trace.rank{rank}{suffix}")


def group_size(group: Any) -> int | None:
    """The number of ranks of a collective's ``group`` argument (None: the world)."""
    dist = torch.distributed
    try:
        if group is None:
            return dist.get_world_size() if dist.is_initialized() else None
        if isinstance(group, dist.ProcessGroup):
            return group.size()
        if isinstance(group, (list, tuple)) and all(isinstance(r, int) for r in group):
            return len(group)
        if hasattr(group, "size") and callable(group.size):  # a 1-D DeviceMesh
            size = group.size()
            return size if isinstance(size, int) else None
    except (RuntimeError, ValueError, TypeError):
        return None
    return None


class DistSession:
    """Records this rank's collectives into a ``Recorder`` while ``installed()``.

    ``directory``: where ``trace.rank{R}.json`` goes (None: nowhere).
    ``check``: compare fingerprints across ranks before each recorded collective.
    ``window``: how many collectives are recorded (and checked) in all.
    """

    def __init__(
        self,
        info: RankInfo,
        recorder: Recorder,
        trace: Trace,
        *,
        directory: str | None = ".",
        check: bool = False,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self.info, self.recorder, self.trace = info, recorder, trace
        self.directory, self.window = directory, window
        self.recorded = 0
        self.checker: DistCheck | None = None
        if check:
            from shapetrace.record.dist_check import DistCheck

            self.checker = DistCheck(info)
        trace._meta.update({"rank": info.rank, "world_size": info.world_size, "local_rank": info.local_rank})
        self._saved: list[tuple[Any, str, Any]] = []
        self._signatures: dict[Callable, inspect.Signature] = {}
        self._old_sigterm: Any = None
        # The collective this rank is inside, if any: a SIGTERM from torchrun (another rank
        # failed) must not write over the checkpoint that already holds it.
        self._pending: Any = None

    @property
    def open(self) -> bool:
        """Whether collectives are still recorded (the same answer on every rank in step)."""
        return self.recorded < self.window

    # ------------------------------------------------------------ install
    @contextlib.contextmanager
    def installed(self) -> Iterator[DistSession]:
        dist = torch.distributed
        targets: list[tuple[Any, str, str, tuple[str, ...], str]] = []
        for name, (outputs, rule) in COLLECTIVES.items():
            for owner in (dist, dist.distributed_c10d):
                targets.append((owner, name, f"dist.{name}", outputs, rule))
        with contextlib.suppress(ImportError):
            import torch.distributed._functional_collectives as funcol  # private: guarded

            targets += [
                (funcol, name, f"funcol.{name}", ("<result>",), rule) for name, rule in FUNCTIONAL_COLLECTIVES.items()
            ]
        originals: dict[int, Callable] = {}
        for owner, name, type_name, outputs, rule in targets:
            original = getattr(owner, name, None)
            if original is None:
                continue
            wrapper = originals.setdefault(id(original), self._wrap(original, name, type_name, outputs, rule))
            self._saved.append((owner, name, original))
            setattr(owner, name, wrapper)
        self._catch_sigterm()
        try:
            yield self
        finally:
            for owner, name, original in reversed(self._saved):
                setattr(owner, name, original)
            self._saved.clear()
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)

    def _wrap(self, original: Callable, name: str, type_name: str, outputs: tuple[str, ...], rule: str) -> Callable:
        session = self

        @functools.wraps(original)
        def collective(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            return session.call(original, (name, type_name), outputs, rule, args, kwargs, sys._getframe(1))

        return collective

    # ------------------------------------------------------------ calls
    def call(
        self,
        original: Callable,
        described: tuple[str, str],
        outputs: tuple[str, ...],
        rule: str,
        args: tuple,
        kwargs: dict,
        caller: Any,
    ) -> Any:
        """Record (and check) one collective called from the user's code, then run it."""
        recorder = self.recorder
        if (
            not self.open
            or recorder.busy
            or threading.get_ident() != recorder.thread
            or frames.is_internal(caller.f_code)
        ):
            return original(*args, **kwargs)
        bound = self._bind(original, args, kwargs)
        group = bound.get("group")
        size = group_size(group)
        self.recorded += 1
        event = recorder.op_started(described, frames.location_of(caller), args, kwargs)
        event.kwargs = {**(event.kwargs or {}), "group": _group_name(group), "group_size": size}
        try:
            recorder.busy = True  # the check's own tensors are not the user's ops
            try:
                with DisableTorchFunction():  # nor seen by the user's modes
                    self._pending = event
                    self.checkpoint(pending=event)
                    if self.checker is not None and rule != "p2p" and size in (None, self.info.world_size):
                        sent = [value for key, value in bound.items() if key not in outputs and key != "group"]
                        self.checker.before(event, rule, sent, self)
            finally:
                recorder.busy = False
            # PyTorch's warnings (deprecations) name the collective's caller: the user's line.
            result = frames.call_from(caller)(original, args, kwargs)
        except BaseException as exc:
            recorder.op_finished(event, None, exc)
            self._pending = None
            raise
        written = result if outputs == ("<result>",) else [bound.get(arg) for arg in outputs]
        recorder.op_finished(event, written, None)
        self._pending = None
        return result

    def _bind(self, original: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
        signature = self._signatures.get(original)
        if signature is None:
            signature = self._signatures[original] = inspect.signature(original)
        try:
            return dict(signature.bind(*args, **kwargs).arguments)
        except TypeError:  # the collective itself will say what is wrong
            return {}

    # ------------------------------------------------------------ files
    def checkpoint(self, pending: Any = None) -> None:
        """Write what this rank recorded so far to ``trace.rank{R}.json``."""
        if self.directory is None:
            return
        from shapetrace.core.serialize import trace_to_json

        write_atomically(rank_path(self.directory, self.info.rank), trace_to_json(self.snapshot(pending)))

    def snapshot(self, pending: Any = None) -> Trace:
        """The trace so far; ``pending``: the collective about to run (a rank may die inside it),
        left out once it is in the trace (its id is no longer -1)."""
        from shapetrace.core.records import link_calls
        from shapetrace.core.trace import Trace

        calls = self.recorder.calls()
        if pending is not None and pending.id == -1:
            saved, pending.id = pending.id, len(calls)
            try:
                calls.append(pending.freeze())
            finally:
                pending.id = saved
            link_calls(calls)
        return Trace(calls, ops=self.trace.ops_setting, ignore=self.trace.ignore, meta=self.trace.meta)

    def save(self, trace: Trace) -> str | None:
        """Write the finished trace; return its path."""
        if self.directory is None:
            return None
        path = rank_path(self.directory, self.info.rank)
        write_atomically(path, trace.to_json())
        return path

    def _catch_sigterm(self) -> None:
        """torchrun ends the other ranks with SIGTERM when one fails: write the
        trace first (only where the program has no handler of its own)."""
        if self.directory is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            with contextlib.suppress(Exception):
                self.checkpoint(pending=self._pending)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        self._old_sigterm = signal.signal(signal.SIGTERM, on_sigterm)


def _group_name(group: Any) -> str:
    if group is None:
        return "WORLD"
    name = getattr(group, "group_name", None)
    if isinstance(name, str):
        return name
    if isinstance(group, (list, tuple)):
        return f"ranks {list(group)}"
    return type(group).__name__


def write_atomically(path: str, text: str) -> None:
    """A reader (or a rank killed mid-write) never sees half a file."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
