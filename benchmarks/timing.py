"""Traced/plain ratios from alternating runs in one process.

The machine is noisy: plain and traced runs alternate (plain first in even
rounds, traced first in odd ones, so neither always runs on a cold cache), a
slow stretch hits both runs of a round, and medians ignore the outliers.
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
    ratio: float  # median of the rounds' traced/plain ratios
    rounds: int


# The process's CPU time (all its threads) by default: on a shared machine a
# run's wall time also counts the time others' processes held the cores
# (medians of the same forward were seen to vary 3x); ``--clock wall`` for a
# quiet machine.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def _time_once(run: Callable[[], object], clock: Callable[[], float]) -> float:
    start = clock()
    result = run()
    elapsed = clock() - start
    del result
    return elapsed


def compare(
    plain: Callable[[], object],
    traced: Callable[[], object],
    *,
    budget_s: float = 10.0,
    min_rounds: int = 5,
    max_rounds: int = 200,
    quick: bool = False,
    clock: str = "cpu",
) -> Timing:
    """Median times of ``plain`` and ``traced``, run in turn until ``budget_s`` is spent.

    ``quick`` (a smoke run) skips the warm-up and the collection before each
    round (~0.2 s once torchlens and torch._dynamo are imported).
    """
    now = CLOCKS[clock]
    if not quick:
        plain(), traced()  # warm up: first calls fill caches on both sides
    plain_times: list[float] = []
    traced_times: list[float] = []
    started = time.perf_counter()
    while len(plain_times) < max_rounds:
        # Each round starts from a clean heap; collections a run triggers
        # (a tracer's records do) are charged to that run.
        if not quick:
            gc.collect()
        if len(plain_times) % 2:
            traced_times.append(_time_once(traced, now))
            plain_times.append(_time_once(plain, now))
        else:
            plain_times.append(_time_once(plain, now))
            traced_times.append(_time_once(traced, now))
        spent = time.perf_counter() - started
        if len(plain_times) >= min_rounds and spent >= budget_s:
            break
    # A round's two runs are seconds apart and share the machine's load: the
    # median of their ratios is steadier than the ratio of the medians.
    ratios = [traced / plain for plain, traced in zip(plain_times, traced_times)]
    return Timing(
        statistics.median(plain_times), statistics.median(traced_times), statistics.median(ratios), len(plain_times)
    )
