"""The graph guard's limit is the measurement's (benchmarks/graph_size.py): the
constant is the smallest per-family fit of dot's time at 3 s, rounded down."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.graph_size import BUDGET_S, fitted_limit
from shapetrace.render.graph.size import MAX_LAYOUT_SIZE

ROOT = Path(__file__).resolve().parent.parent


def test_a_power_law_fit_finds_the_size_at_the_budget():
    rows = [{"family": "f", "size": size, "dot": (size / 1000) ** 3} for size in (500, 800, 1000, 1500)]
    rows.append({"family": "f", "size": 3000, "dot": None})  # stopped: left out of the fit
    rows.append({"family": "f", "size": 100, "dot": 0.001})  # dot's start-up, below 0.1 s: left out
    assert abs(fitted_limit(rows, budget=3.0)["f"] - 1000 * 3 ** (1 / 3)) < 2


def test_max_layout_size_is_the_measured_limit_rounded_down():
    text = (ROOT / "benchmarks" / "graph_size.md").read_text()
    found = re.search(rf"Size at {BUDGET_S:.0f} s by a power-law fit per family: (.*?); the smallest", text)
    assert found, "benchmarks/graph_size.md has no fit line"
    fits = [int(number.replace(",", "")) for number in re.findall(r" (\d[\d,]*)(?:,|$)", found.group(1) + ",")]
    assert len(fits) == 3
    assert min(fits) // 100 * 100 == MAX_LAYOUT_SIZE
    # and what was measured agrees: every run at or under the limit took under the budget
    rows = re.findall(r"^\| [^|]+ \| [^|]+ \| \d+ \| ([\d,]+) \| ([\d.]+) s \|$", text, re.MULTILINE)
    within = [float(seconds) for size, seconds in rows if int(size.replace(",", "")) <= MAX_LAYOUT_SIZE]
    assert within and max(within) <= BUDGET_S
