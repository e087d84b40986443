"""The benchmark script runs end to end at tiny sizes (CI runs only this:
benchmarks are not unit tests, so nothing here depends on timings)."""

from __future__ import annotations

import subprocess
import sys
import time
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


def _fake_cell(key, tool, budget_s, clock, threads, smoke=False):
    """Stands for real_bench.measure_cell in the child: torchinfo hangs on the second model."""
    if tool == "torchinfo" and key == "mlp":
        time.sleep(600)
    ratio = {"shapetrace": 1.25, "torchinfo": 1.5}[tool]
    return {"plain_s": 0.002, "traced_s": 0.002 * ratio, "ratio": ratio, "rounds": 5, "events": 10, "max_rss_mb": 99.0}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake relies on fork")
def test_default_run_writes_each_row_when_measured(tmp_path, monkeypatch):
    """The default run (not --real) writes its section after each model, as --real
    does: an interrupted run keeps its rows; a hanging tool is one timed-out cell."""
    from benchmarks import bench, measure, real_bench, sections

    monkeypatch.setattr(real_bench, "measure_cell", _fake_cell)
    monkeypatch.setattr(measure, "trace_size",  # the size table is left empty: its rows are the labels
                        lambda keys, smoke, loop=True: {key: {"label": f"model {key}", "error": "-"} for key in keys})
    snapshots = []
    replace = sections.replace_section

    def replace_and_keep(path, name, body):
        text = replace(path, name, body)
        snapshots.append(text)
        return text

    monkeypatch.setattr(sections, "replace_section", replace_and_keep)
    output = tmp_path / "results.md"
    assert bench.main(["--cases", "transformer", "mlp", "--tools", "shapetrace", "torchinfo", "--no-script",
                       "--budget", "0.1", "--model-timeout", "2", "--output", str(output)]) == 0
    first, *_, final = snapshots
    assert "| model transformer |" in first and "model mlp" not in first
    assert "**in progress**: 1 of 2 models measured" in first
    row = next(line for line in final.splitlines() if line.startswith("| model mlp |"))
    assert "1.25×" in row and "timed out after 2 s" in row
    assert "in progress" not in final and final == output.read_text()
