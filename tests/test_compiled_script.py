"""A script that trains through ``torch.compile(model)``: under ``shapetrace
run`` it prints, warns and saves what it does under python (PyTorch's warning
of global hooks on a compiled module's every call was ours to hide), and its
report is titled after the model compiled, ``MLP (in OptimizedModule)``, as
DDP's is (``Net (in DistributedDataParallel)``), not after torch's wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.case_support import REAL_SCRIPTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REAL_SCRIPTS / "compiled_small.py"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_compiled_model_runs_as_under_python_and_titles_its_report(tmp_path) -> None:
    plain_dir, traced_dir = tmp_path / "plain", tmp_path / "traced"
    plain_dir.mkdir()
    traced_dir.mkdir()
    plain = _run([sys.executable, str(SCRIPT)], plain_dir)
    assert plain.returncode == 0, plain.stderr[-3000:]
    stem = tmp_path / "report"
    traced = _run([sys.executable, "-m", "shapetrace", "run", str(SCRIPT), "-f", "table", "-f", "json", "-o",
                   str(stem)], traced_dir)
    assert traced.returncode == 0, traced.stderr[-3000:]
    assert traced.stdout == plain.stdout
    assert [line for line in traced.stderr.splitlines() if not line.startswith("shapetrace: ")] == (
        plain.stderr.splitlines())
    saved = [torch.load(folder / "compiled.pt") for folder in (plain_dir, traced_dir)]
    assert saved[0].keys() == saved[1].keys() and all(torch.equal(saved[0][k], saved[1][k]) for k in saved[0])
    table = (tmp_path / "report.txt").read_text()
    assert table.startswith("shapetrace MLP (in OptimizedModule): "), table.splitlines()[0]
    data = json.loads((tmp_path / "report.json").read_text())
    assert [(m["type"], m.get("wrapper")) for m in data["sections"]["models"]] == [("MLP", "OptimizedModule")]
