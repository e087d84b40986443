"""``--format svg``/``png`` on a machine without Graphviz: refused before the
script runs, in one line naming ``--format dot`` and how to install Graphviz
(issue 19, item 3), with a PATH that really has no ``dot``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shapetrace.cli.exit_codes import EXIT_USAGE

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # a fresh interpreter per command


def without_dot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    bare = tmp_path / "bin"  # PATH holds only this empty folder: no dot, whatever the machine has
    bare.mkdir(exist_ok=True)
    env = {"PATH": str(bare), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HOME": os.environ.get("HOME", "/")}
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("argv", [["--format", "svg"], ["--format", "png", "-o", "g.png"],
                                  ["--format", "table", "--format", "svg", "-o", "report"]])
def test_a_picture_format_without_dot_is_refused_before_the_script_runs(tmp_path, argv):
    marker = tmp_path / "ran"
    script = tmp_path / "train.py"
    script.write_text(
        "import pathlib, torch\n"
        f"pathlib.Path({str(marker)!r}).write_text('yes')\n"
        "model = torch.nn.Linear(4, 2)\n"
        "model(torch.randn(3, 4))\n"
    )
    done = without_dot(tmp_path, "run", str(script), *argv)
    assert done.returncode == EXIT_USAGE
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    fmt = "png" if "png" in argv or "g.png" in argv else "svg"
    assert lines[0].startswith(f"shapetrace: error: --format {fmt} needs Graphviz's dot program")
    assert "--format dot" in lines[0] and "apt-get install graphviz" in lines[0] and "brew install graphviz" in lines[0]
    assert not marker.exists()  # the script never ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "train.py"]  # no .dot, .svg or .txt left


def test_show_refuses_it_too_and_dot_itself_needs_no_graphviz(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\nmodel = torch.nn.Linear(4, 2)\nmodel(torch.randn(3, 4))\n")
    assert without_dot(tmp_path, "run", str(script), "-o", "t.json").returncode == 0
    refused = without_dot(tmp_path, "show", "t.json", "--format", "svg")
    assert refused.returncode == EXIT_USAGE and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "--format dot" in refused.stderr
    dot = without_dot(tmp_path, "show", "t.json", "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
