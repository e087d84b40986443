"""The command: ``main(argv)`` in process, and the installed script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES, EXIT_FINDINGS

ROOT = Path(__file__).resolve().parent.parent
ARTICLE_SHAPES = ["(5, 30)", "(5, 30, 1)", "(5, 30, 64)", "(150, 64)", "(150, 1)", "(5, 1)"]


def run_command(*args: str, cwd: Path = ROOT, columns: int = 160) -> subprocess.CompletedProcess:
    # The command honours COLUMNS, and pytest's process exports COLUMNS=80 to its
    # children (readline sets it): give the width these tests read.
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], cwd=cwd, env=env,
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
    assert result.returncode == 1  # the traced code raised, as python exits
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
    assert [c["inputs"][0]["shape"] for c in calls if c["kind"] == "module"] == [[5, 4], [3, 4]]
    # the op that made the first pass's input, outside the model (record/before_pass.py)
    assert [c["name"] for c in calls if c["kind"] == "op"] == ["randn"]
    assert main(["run", str(script), "--max-calls", "1", "-o", str(trace_file)]) == 0
    assert len([c for c in json.loads(trace_file.read_text())["calls"] if c["kind"] == "module"]) == 1


@pytest.mark.parametrize("argv, message", [
    (["run", "no/such/script.py"], "no such script: "),
    (["show", "missing.json"], "no such trace file: missing.json"),
    (["run", "demos/lstm_forecaster.py", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["run", "demos/lstm_forecaster.py", "--max-calls", "0"], "--max-calls must be at least 1"),
    (["frobnicate"], "unknown command 'frobnicate'"),
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


# ---------------------------------------------------------------- factories
def test_factory_target_traces_one_forward(tmp_path):
    out = tmp_path / "f.json"
    assert main(["run", "tests.models.factories:article_forecaster", "--input", "5x30", "-o", str(out)]) == 0
    calls = json.loads(out.read_text())["calls"]
    lstm = next(c for c in calls if c["name"] == "lstm")
    assert lstm["outputs"][0]["shape"] == [5, 30, 64]


def test_factory_class_with_defaults_and_float64_input(tmp_path):
    out = tmp_path / "f.json"
    assert main(["run", "tests.models.factories:multistep", "--input", "3x24x7:float32", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["calls"][0]["outputs"][0]["shape"] == [3, 4]
    # MultiStepLSTM's weights are float32: PyTorch refuses float64 input, and shapetrace reports it
    result = run_command("run", "tests.models.factories:multistep", "--input", "3x24x7:float64")
    assert result.returncode == 1  # the traced code raised, as python exits
    assert "RNN input dtype (torch.float64) does not match weight dtype" in result.stderr
    assert "shapetrace: raised by lstm (LSTM)" in result.stderr
    first_frame = result.stderr.splitlines()[1]  # the traceback starts in the user's forward
    assert first_frame.startswith('  File "') and "multistep_forecaster.py" in first_frame
    assert "lstm: LSTM" in result.stdout


def test_integer_inputs_are_valid_embedding_indices():
    result = run_command("run", "tests.models.factories:TextClassifier", "--input", "3x6:long")
    assert result.returncode == 0, result.stderr
    assert "(3, 6, 16)" in result.stdout and "(3, 3)" in result.stdout
    assert "runpy" not in result.stdout  # shapetrace's launcher is not a user line
    assert "int64" in result.stdout


def test_seven_b_shaped_model_on_meta_without_memory():
    """Its run time is measured in benchmarks/ (the 7B-shaped meta rows), not here: these
    machines are too noisy for a timed test."""
    code = (
        "import resource, sys\n"
        "from shapetrace.cli.app import main\n"
        "status = main(['run', 'tests.models.factories:seven_b_shaped', '--input', '1x2048x4096',"
        " '--device', 'meta', '--no-ops', '-o', sys.argv[1]])\n"
        "print(status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "big.json"
        result = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        status, max_rss_kb = result.stdout.split()
        calls = json.loads(out.read_text())["calls"]
    assert status == "0"
    assert int(max_rss_kb) < 2_000_000  # 7B float32 weights would take 28 GB
    layers = [c for c in calls if c["type"] == "TransformerEncoderLayer"]
    assert len(layers) == 32
    assert layers[-1]["outputs"][0]["shape"] == [1, 2048, 4096]
    assert layers[-1]["outputs"][0]["device"] == "meta"
    assert calls[0]["params"] > 5_000_000_000  # two FFN matrices per layer, not LLaMA's three


@pytest.mark.parametrize("argv, message", [
    (["run", "tests.models.factories:nothing", "--input", "2x3"], "has no attribute 'nothing'"),
    (["run", "no_such_module_xyz:build", "--input", "2x3"], "cannot import no_such_module_xyz"),
    (["run", "tests.models.factories:needs_arguments", "--input", "2x3"], "needs arguments"),
    (["run", "tests.models.factories:not_a_module", "--input", "2x3"], "returned a str, not an nn.Module"),
    (["run", "tests.models.factories:article_forecaster"], "needs --input"),
    (["run", "tests.models.factories:article_forecaster", "--input", "5by30"], "expected sizes joined by 'x'"),
    (["run", "tests.models.factories:article_forecaster", "--input", "5x30:complex7"], "unknown dtype 'complex7'"),
    (["run", "tests.models.factories:article_forecaster", "--input", "5x30", "--device", "tpu9"],
     "is not a device"),
    (["run", "demos/lstm_forecaster.py", "--input", "5x30"], "--input and --vary are for pkg.module:factory targets"),
])
def test_factory_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# -------------------------------------------------------------- diff, formats
def save_trace(tmp_path: Path, name: str, script_body: str) -> Path:
    script = write_script(tmp_path, script_body, f"{name}.py")
    out = tmp_path / f"{name}.json"
    assert main(["run", str(script), "-o", str(out)]) == 0
    return out


MODEL_SCRIPT = (
    "import torch\n"
    "from torch import nn\n"
    "model = nn.Sequential(nn.Linear(4, {hidden}), nn.ReLU(), nn.Linear({hidden}, 2))\n"
    "model(torch.randn(3, 4))\n"
)


def test_diff_shows_changed_calls_and_exits_1(tmp_path):
    before = save_trace(tmp_path, "before", MODEL_SCRIPT.format(hidden=8))
    after = save_trace(tmp_path, "after", MODEL_SCRIPT.format(hidden=16))
    same = run_command("diff", str(before), str(before))
    assert same.returncode == 0 and "no differences" in same.stdout
    changed = run_command("diff", str(before), str(after))
    assert changed.returncode == EXIT_DIFFERENCES
    # the first Linear and the ReLU output (3, 16) now; the last Linear takes it in (its output is the same)
    assert "3 calls differ" in changed.stdout
    rows = [line.split()[:4] for line in changed.stdout.splitlines()[3:]]
    assert rows == [["0", "out", "(3,", "*8*)"], ["1", "in", "(3,", "*8*)"], ["out", "(3,", "*8*)", "(3,"],
                    ["2", "in", "(3,", "*8*)"]]
    assert "(3, *16*)" in changed.stdout and "(3, 2)" not in changed.stdout


def test_several_formats_with_an_output_stem(tmp_path):
    stem = tmp_path / "report"
    assert main(["run", "demos/multivariate_forecaster.py", "--format", "table", "--format", "json",
                 "-o", str(stem)]) == 0
    assert "MultivariateLSTM (root)" in (tmp_path / "report.txt").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["format"] == "shapetrace-trace"


def test_short_last_batch_is_recorded_and_its_crash_reported(tmp_path):
    script = write_script(tmp_path, (
        "import torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "from demos.lstm_forecaster import LSTM\n"
        "model = LSTM(1, 64, 5, 1, batch_size=5)\n"
        "loader = DataLoader(TensorDataset(torch.randn(13, 30)), batch_size=5)\n"
        "for (x,) in loader:\n"
        "    model(x)\n"
    ))
    out = tmp_path / "t.json"
    result = subprocess.run([sys.executable, "-m", "shapetrace", "run", str(script), "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1  # the traced code raised, as python exits
    assert "shape '[5, 30, 1]' is invalid for input of size 90" in result.stderr
    assert "operands: (3, 30)" in result.stderr
    roots = [c for c in json.loads(out.read_text())["calls"] if c["parent"] is None]
    assert [r["inputs"][0]["shape"] for r in roots] == [[5, 30], [3, 30]]


def test_fail_on_exits_3_only_when_findings_reach_it(tmp_path):
    from shapetrace.analyze.checks import REGISTRY, load_detectors

    load_detectors()
    if not REGISTRY:
        pytest.skip("no detectors registered yet")
    script = write_script(tmp_path, (
        "import torch\n"
        "model = torch.nn.Linear(3, 1)\n"
        "pred = model(torch.randn(4, 3))\n"
        "loss = torch.nn.MSELoss()(pred, torch.zeros(4))\n"
    ))
    assert main(["run", str(script), "--fail-on", "never"]) == 0
    assert main(["run", str(script), "--fail-on", "warning"]) == EXIT_FINDINGS
    assert main(["run", str(script), "--fail-on", "warning", "--ignore", "ST005"]) == 0


def test_vary_names_the_dimensions(tmp_path):
    out = tmp_path / "v.json"
    argv = ["run", "demos.bidirectional_forecaster:BiLSTM", "--input", "BxTx7", "--vary", "B=8,3",
            "--vary", "T=24,11", "-o", str(out)]
    assert main(argv) == 0
    lstm = next(c for c in json.loads(out.read_text())["calls"] if c["name"] == "lstm")
    assert lstm["outputs"][0]["symbolic"] == ["B", "T", 64]
    shown = run_command("show", str(out), "--no-ops")
    assert "output (B, T, 64)" in shown.stdout and "(B, 4)" in shown.stdout


@pytest.mark.parametrize("argv, message", [
    (["--input", "8xTx7", "--vary", "B=8,3"], "--vary B: no --input uses the dimension B"),
    (["--input", "BxTx7", "--vary", "B=8,3"], "no --vary gives it"),
    (["--input", "Bx24x7", "--vary", "B=eight"], "expected NAME=SIZE,SIZE"),
    (["--input", "Bx24x7", "--vary", "B=8"], "two or more different sizes"),
])
def test_vary_usage_errors(argv, message, capsys):
    assert main(["run", "demos.bidirectional_forecaster:BiLSTM", *argv]) == 2
    assert message in capsys.readouterr().err
