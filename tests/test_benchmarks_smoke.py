"""The benchmark script runs end to end at tiny sizes (CI runs only this:
benchmarks are not unit tests, so nothing here depends on timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_smoke_run_writes_its_report(tmp_path):
    report = tmp_path / "results.md"
    done = subprocess.run([sys.executable, "benchmarks/bench.py", "--smoke", "--output", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text()
    assert text.startswith("# shapetrace benchmarks")
    for row in ("article's forecaster", "TransformerEncoder", "(Linear 16→16 + ReLU)", "7B-shaped", "70B-shaped"):
        assert row in text
    assert "| model | plain forward | shapetrace | shapetrace ops=False | hook loop |" in text
    assert "## Script mode" in text
    assert text in done.stdout  # printed too
