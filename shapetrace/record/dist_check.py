"""``--dist-check``: the ranks compare each collective before it runs.

A collective called with different shapes on different ranks aborts a rank
(gloo's ``EnforceNotMet``), hangs every rank until the timeout, or, when the
element counts match, "succeeds" with scrambled data. Before each recorded
collective, every rank sends a small fingerprint (the op, its line, its
tensors' shapes and dtypes) over a gloo process group of shapetrace's own,
built on the run's store under a prefix of its own, so it neither shares
sequence numbers with the user's groups nor dies with the user's
``destroy_process_group``. On a mismatch the ranks swap their traces so far,
each finds the first upstream call whose shapes differ (``analyze/rank_diff``)
and every rank raises ``CollectiveMismatchError`` at the user's line: no
abort, no hang. A rank whose script ends first sends an end marker, so ranks
still waiting in a check learn that it will never come.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import TYPE_CHECKING, Any

import torch

from shapetrace.core.tensor_meta import collect_metas, dtype_name
from shapetrace.errors import CollectiveMismatchError

if TYPE_CHECKING:
    from shapetrace.core.trace import Trace
    from shapetrace.record.distributed import DistSession, RankInfo

DEFAULT_TIMEOUT_S = 300.0  # how long a rank waits for the others' fingerprints
END = "<end>"


def _timeout() -> datetime.timedelta:
    try:
        seconds = float(os.environ.get("SHAPETRACE_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        seconds = DEFAULT_TIMEOUT_S
    return datetime.timedelta(seconds=seconds)


_stores: dict[tuple[str, str], Any] = {}


def run_store() -> Any:
    """The run's key-value store, the same on every rank: torchrun's
    (``MASTER_ADDR``/``MASTER_PORT``, which outlives the user's
    ``destroy_process_group``), else the default group's; None without either."""
    dist = torch.distributed
    address, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if address and port:
        store = _stores.get((address, port))
        if store is None:
            store = _stores[(address, port)] = dist.TCPStore(address, int(port), is_master=False, timeout=_timeout())
        return store
    if dist.is_initialized():
        try:
            from torch.distributed.distributed_c10d import _get_default_store  # private: guarded

            return _get_default_store()
        except (ImportError, RuntimeError, ValueError):
            return None
    return None


def store_prefix() -> str:
    """Keys of this launch only: torchrun restarts reuse its store."""
    run, restart = os.environ.get("TORCHELASTIC_RUN_ID", ""), os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return f"shapetrace/{run}/{restart}/"


class DistCheck:
    """One rank's side of the pre-flight check."""

    def __init__(self, info: RankInfo) -> None:
        self.info = info
        self.failed = False  # after a mismatch the ranks are out of step: no more checks
        self._group: Any = None

    def _pg(self) -> Any:
        if self._group is None:
            dist = torch.distributed
            store = run_store()
            if store is None:
                raise CollectiveMismatchError(
                    "shapetrace --dist-check: no store to reach the other ranks "
                    "(set MASTER_ADDR and MASTER_PORT, or init the process group)"
                )
            prefixed = dist.PrefixStore(store_prefix() + "check", store)
            self._group = dist.ProcessGroupGloo(prefixed, self.info.rank, self.info.world_size, _timeout())
        return self._group

    def _all_gather_bytes(self, data: bytes) -> list[bytes]:
        """Every rank's ``data``, in rank order."""
        group, world = self._pg(), self.info.world_size
        length = torch.tensor([len(data)], dtype=torch.int64)
        lengths = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        group.allgather([lengths], [length]).wait()
        sizes = [int(n[0]) for n in lengths]  # shapetrace's own small tensors, never the user's
        longest = max(sizes) or 1
        buffer = torch.zeros(longest, dtype=torch.uint8)
        if data:
            buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        gathered = [torch.empty(longest, dtype=torch.uint8) for _ in range(world)]
        group.allgather([gathered], [buffer]).wait()
        return [part[:size].numpy().tobytes() for part, size in zip(gathered, sizes)]

    def _exchange(self, fingerprint: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            parts = self._all_gather_bytes(json.dumps(fingerprint).encode())
        except RuntimeError as error:  # a rank that never came (killed, or hung elsewhere)
            self.failed = True
            raise CollectiveMismatchError(
                f"shapetrace --dist-check: {fingerprint['op']} at {fingerprint['at']}: the other ranks did not "
                f"answer within {_timeout().total_seconds():.0f} s ({str(error).splitlines()[0]})"
            ) from None
        return [json.loads(part) for part in parts]

    # ------------------------------------------------------------ checks
    def before(self, event: Any, rule: str, sent: list[Any], session: DistSession) -> None:
        """Compare this collective across ranks; raise on every rank when they differ."""
        if self.failed:
            return
        every = [_meta_entry(m) for m in event.inputs]
        shown = [_meta_entry(m) for m in collect_metas(sent)] or every
        compared = {"all": every, "first": every[:1], "dtype": [[None, e[1]] for e in every]}.get(rule, [])
        location = event.location
        fingerprint = {
            "rank": self.info.rank,
            "op": event.type,
            "at": str(location) if location else "?",
            "compared": compared,
            "shown": shown,
        }
        everyone = self._exchange(fingerprint)
        if all(_same(entry, everyone[0]) for entry in everyone):
            return
        raise self._mismatch(everyone, session.snapshot(event))

    def finish(self, session: DistSession, reason: str) -> CollectiveMismatchError | None:
        """At the end of the script: tell ranks still in a check that no more collectives come."""
        if self.failed or not session.open:
            return None
        if self._group is None and run_store() is None:
            return None  # no collective ran, and no store to reach the others: nothing to tell
        everyone = self._exchange({"rank": self.info.rank, "op": END, "at": reason, "compared": [], "shown": []})
        if all(entry["op"] == END for entry in everyone):
            return None
        return self._mismatch(everyone, session.trace)

    def _mismatch(self, everyone: list[dict[str, Any]], mine: Trace) -> CollectiveMismatchError:
        self.failed = True
        from shapetrace.core.serialize import load

        texts = self._all_gather_bytes(mine.to_json().encode())
        traces = [load(text.decode()) for text in texts]
        # The analysis is a layer up: imported only on this failure path.
        from shapetrace.analyze.rank_diff import mismatch_report

        message, note = mismatch_report(everyone, traces, self.info.rank)
        error = CollectiveMismatchError(message)
        if hasattr(error, "add_note"):
            error.add_note(note)
            return error
        return CollectiveMismatchError(f"{message}\n{note}")  # Python 3.10 would not print a note


def _meta_entry(meta: Any) -> list[Any]:
    return [list(meta.shape), dtype_name(meta.dtype)]


def _same(entry: dict[str, Any], first: dict[str, Any]) -> bool:
    return entry["op"] == first["op"] and entry["compared"] == first["compared"]
