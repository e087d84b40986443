"""Every demo of the article's series runs under `shapetrace run` in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shapetrace.record.script import run_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("demo, module, shapes", [
    ("bidirectional_forecaster.py", "lstm", [(8, 24, 64), (4, 8, 32), (4, 8, 32)]),
    ("multivariate_forecaster.py", "lstm", [(16, 24, 64), (2, 16, 64), (2, 16, 64)]),
    ("multistep_forecaster.py", "linear", [(192, 4)]),
    ("lstm_forecaster.py", "linear", [(150, 1)]),
])
def test_series_demos(demo, module, shapes):
    result = run_script(str(ROOT / "demos" / demo))
    assert result.exit_code == 0 and result.error is None
    assert [m.shape for m in result.trace[module].outputs] == shapes


def test_series_demos_have_no_errors():
    for demo in ("bidirectional_forecaster.py", "multivariate_forecaster.py", "multistep_forecaster.py"):
        trace = run_script(str(ROOT / "demos" / demo)).trace
        assert trace.findings == [], demo


def test_api_tour_runs():
    result = subprocess.run([sys.executable, "-m", "demos.api_tour"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "assert_shapes bound {'B': 5, 'T': 30}" in result.stdout
    assert "shapetrace: raised by .view(5, 30, 1)" in result.stdout
    assert "BiLSTM output: ('B', 'T', 64)  head: ('B', 4)" in result.stdout


def test_time_sequence_prediction_report_folds_its_loops():
    """pytorch/examples' time_sequence_prediction: 1,999 steps, a report under 60 lines (issue 18)."""
    # A 120-column terminal: the command honours COLUMNS, which pytest's process sets to 80 for its children.
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", "demos/time_sequence_prediction.py",
                             "--", "--steps", "300"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 60
    assert any("lstm1: LSTMCell ×299" in line for line in lines)
    assert any("cat((T ×599), dim=1)" in line and "599 × (3, 1)" in line for line in lines)
