"""Golden files for what a user reads most: the ``shapetrace run`` report with
its findings, the note added to an exception, and the diff table.

A change to any of them shows as a diff against tests/golden/; after reading
it, ``python -m pytest --update-goldens tests/test_goldens.py`` rewrites them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import shapetrace
from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES
from tests.render_support import REPO, assert_golden

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                                                       "OMP_NUM_THREADS": "1"})


def test_run_report_with_a_finding():
    done = _run("run", "demos/bugs/st001_batch_first.py")
    assert done.returncode == 0, done.stderr
    assert_golden("run_st001_report.txt", done.stdout)


def test_exception_note():
    done = _run("run", "demos/bugs/st010_feature_mismatch.py")
    assert done.returncode == 1
    # The note follows the exception's own line; the frames above it name torch's files.
    note = done.stderr[done.stderr.index("RuntimeError: input.size(-1)"):]
    assert_golden("st010_exception_note.txt", note)
    assert_golden("st010_report.txt", done.stdout)


def test_diff_table(tmp_path, capsys):
    from demos.lstm_forecaster import LSTM

    paths = []
    for hidden, name in ((64, "before.json"), (32, "after.json")):
        torch.manual_seed(0)
        model = LSTM(input_size=1, hidden_size=hidden, num_layers=5, output_size=1, batch_size=5)
        with shapetrace.trace(model) as t:
            model(torch.randn(5, 30))
        paths.append(tmp_path / name)
        paths[-1].write_text(t.to_json())
    assert main(["diff", *map(str, paths)]) == EXIT_DIFFERENCES  # they differ
    assert_golden("diff_hidden_64_to_32.txt", capsys.readouterr().out)
