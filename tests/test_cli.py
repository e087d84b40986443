"""The command: ``main(argv)`` in process, and the installed script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shapetrace.cli import main

ROOT = Path(__file__).resolve().parent.parent
ARTICLE_SHAPES = ["(5, 30)", "(5, 30, 1)", "(5, 30, 64)", "(150, 64)", "(150, 1)", "(5, 1)"]


def run_command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def write_script(tmp_path: Path, body: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_run_forecaster_demo_prints_the_article_shapes():
    result = run_command("run", "demos/lstm_forecaster.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("step   0") < out.index("shapetrace LSTM")  # report after the script's output
    for shape in ARTICLE_SHAPES:
        assert shape in out
    assert "lstm: LSTM" in out and "linear: Linear" in out
    assert "demos/lstm_forecaster.py:" in out


def test_json_output_to_a_file_then_show(tmp_path):
    trace_file = tmp_path / "trace.json"
    assert main(["run", "demos/lstm_forecaster.py", "-o", str(trace_file)]) == 0
    document = json.loads(trace_file.read_text())
    assert document["format"] == "shapetrace-trace"
    shapes = {tuple(o["shape"]) for c in document["calls"] for o in c["outputs"]}
    assert {(5, 30, 64), (150, 1), (5, 1)} <= shapes
    shown = run_command("show", str(trace_file))
    assert shown.returncode == 0, shown.stderr
    for shape in ARTICLE_SHAPES:
        assert shape in shown.stdout


def test_script_args_after_double_dash_and_exit_code(tmp_path):
    script = write_script(tmp_path, "import sys\nprint('args', sys.argv[1:])\nsys.exit(3)\n")
    result = run_command("run", str(script), "--", "--epochs", "2")
    assert "args ['--epochs', '2']" in result.stdout
    assert result.returncode == 3


def test_script_that_raises_prints_its_traceback_and_note(tmp_path):
    script = write_script(tmp_path, (
        "import torch\n"
        "model = torch.nn.Linear(8, 2)\n"
        "model(torch.randn(3, 4))\n"
    ))
    result = run_command("run", str(script))
    assert result.returncode == 1
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in result.stderr
    assert f'File "{script}", line 3' in result.stderr
    assert "shapetrace/" not in result.stderr.split("Traceback")[1].split("RuntimeError")[0]
    assert "shapetrace: raised by" in result.stderr
    assert "Linear (root)" in result.stdout  # what was recorded is still reported


def test_first_pass_per_input_signature(tmp_path):
    script = write_script(tmp_path, (
        "import torch\n"
        "model = torch.nn.Linear(4, 2)\n"
        "for batch in [5, 5, 5, 3]:\n"
        "    model(torch.randn(batch, 4))\n"
    ))
    trace_file = tmp_path / "t.json"
    assert main(["run", str(script), "-o", str(trace_file)]) == 0
    calls = json.loads(trace_file.read_text())["calls"]
    assert [c["inputs"][0]["shape"] for c in calls] == [[5, 4], [3, 4]]
    assert main(["run", str(script), "--max-calls", "1", "-o", str(trace_file)]) == 0
    assert len(json.loads(trace_file.read_text())["calls"]) == 1


@pytest.mark.parametrize("argv, message", [
    (["run", "no/such/script.py"], "no such script: "),
    (["show", "missing.json"], "no such trace file: missing.json"),
    (["run", "demos/lstm_forecaster.py", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["run", "demos/lstm_forecaster.py", "--max-calls", "0"], "--max-calls must be at least 1"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("shapetrace: error: ")


def test_corrupt_json_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format\": \"shapetrace-trace\", \"version\": 1, \"calls\": 5}")
    assert main(["show", str(bad)]) == 2
    assert "calls should be list" in capsys.readouterr().err


def test_installed_script_and_version():
    result = subprocess.run(["shapetrace", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("shapetrace ")


def test_help_lists_the_commands():
    result = run_command("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "show" in result.stdout
