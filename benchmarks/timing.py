"""Traced/plain ratios from alternating runs in one process.

The machine is noisy: plain and traced runs alternate (plain first in even
rounds, traced first in odd ones, so neither always runs on a cold cache), a
slow stretch hits both, and medians ignore the outliers.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    plain_s: float  # median plain forward
    traced_s: float  # median traced forward
    rounds: int

    @property
    def ratio(self) -> float:
        return self.traced_s / self.plain_s


def _time_once(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def compare(plain: Callable[[], object], traced: Callable[[], object], *,
            budget_s: float = 10.0, min_rounds: int = 5, max_rounds: int = 200) -> Timing:
    """Median times of ``plain`` and ``traced``, run in turn until ``budget_s`` is spent."""
    plain(), traced()  # warm up: first calls fill caches on both sides
    plain_times: list[float] = []
    traced_times: list[float] = []
    started = time.perf_counter()
    while len(plain_times) < max_rounds:
        # Each round starts from a clean heap; collections a run triggers
        # (a tracer's records do) are charged to that run.
        gc.collect()
        if len(plain_times) % 2:
            traced_times.append(_time_once(traced))
            plain_times.append(_time_once(plain))
        else:
            plain_times.append(_time_once(plain))
            traced_times.append(_time_once(traced))
        spent = time.perf_counter() - started
        if len(plain_times) >= min_rounds and spent >= budget_s:
            break
    return Timing(statistics.median(plain_times), statistics.median(traced_times), len(plain_times))
