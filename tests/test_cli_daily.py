"""Daily use of the command (issue 19): display flags, clean machine output,
flags checked before the script runs, terminal widths and colour."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_FINDINGS
from shapetrace.core.text import format_location
from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report

ROOT = Path(__file__).resolve().parent.parent
DEMO = "demos/lstm_forecaster.py"
ST001 = "demos/bugs/st001_batch_first.py"
COLOR_CODE = re.compile(r"\x1b\[[\d;]*?(?:3\d|38;[\d;]+)m")  # a foreground colour


def command(*args: str, env: dict[str, str] | None = None, columns: int = 160,
            stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": str(columns), **(env or {})}
    for name in ("NO_COLOR", "FORCE_COLOR"):
        if env is None or name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "shapetrace", *args], cwd=ROOT, env=environment,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300)


def marker_script(tmp_path: Path) -> tuple[Path, Path]:
    """A script that leaves a file behind when it runs, and prints to stdout."""
    marker = tmp_path / "ran"
    script = tmp_path / "model.py"
    script.write_text(
        "import pathlib, torch\n"
        f"pathlib.Path({str(marker)!r}).write_text('yes')\n"
        "print('hello from the script')\n"
        "model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())\n"
        "x = torch.randn(3, 4)\n"
        "y = model(x.view(3, 4))\n"
    )
    return script, marker


# ------------------------------------------------------------- 1. --no-ops
def test_no_ops_hides_op_rows_but_keeps_the_diagnosis(tmp_path, capsys):
    assert main(["run", ST001, "--no-ops", "--fail-on", "warning"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "ST001 batch-first-mismatch" in out and "help:" in out
    table = out.split("ST001 batch-first-mismatch")[0]
    assert "lstm: LSTM" in table
    assert "[:, -1, :]" not in table  # the op row is hidden, its finding is not
    saved = tmp_path / "t.json"
    assert main(["run", ST001, "--no-ops", "--fail-on", "warning", "-o", str(saved)]) == EXIT_FINDINGS
    assert any(call["kind"] == "op" for call in json.loads(saved.read_text())["calls"])


def test_a_mode_that_records_less_is_named_for_it_and_says_which_checks_it_turned_off(capsys):
    # ST001 keeps the evidence module calls give: the DataLoader's batch axis is the one
    # the LSTM steps through (the clues from the ops after the LSTM are gone).
    assert main(["run", ST001, "--no-op-recording", "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    header = out.splitlines()[0] + out.splitlines()[1]
    assert "ops not recorded" in header
    assert "ST001 (in part)" in header and "ST003" in header
    assert "ST001 batch-first-mismatch" in out and "the batch of the DataLoader" in out
    assert "takes the last step" not in out


# ---------------------------------------------------- 2. machine-readable
def test_json_on_stdout_carries_only_json_and_the_scripts_prints_go_to_stderr():
    result = command("run", DEMO, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["format"] == "shapetrace-trace"
    assert "step   0" in result.stderr and "step   0" not in result.stdout


def test_the_table_still_follows_the_scripts_own_output_on_stdout():
    result = command("run", DEMO)
    assert result.stdout.index("step   0") < result.stdout.index("shapetrace LSTM")


@pytest.mark.requires_dot  # without dot, --format png is refused first for that (tests/test_cli_without_dot.py)
def test_binary_format_to_a_terminal_is_refused_before_the_script_runs(tmp_path):
    script, marker = marker_script(tmp_path)
    leader, follower = pty.openpty()
    try:
        result = command("run", str(script), "--format", "png", stdout=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "binary" in result.stderr and "-o FILE.png" in result.stderr
    assert not marker.exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    script, _ = marker_script(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "shapetrace", "run", str(script), "--format", "json"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the command writes (like `| head -0`)
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr
    assert "cannot write" not in stderr


# -------------------------------------------------- 3. no ignored flags
def test_device_on_a_script_is_refused_before_it_runs(tmp_path, capsys):
    script, marker = marker_script(tmp_path)
    assert main(["run", str(script), "--device", "meta"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device is for pkg.module:factory targets" in err
    assert not marker.exists()


def test_a_graph_format_without_dot_is_refused_before_the_script_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shapetrace.cli.outputs.shutil.which", lambda name: None)
    script, marker = marker_script(tmp_path)
    for argv in (["--format", "png", "-o", str(tmp_path / "g.png")], ["--format", "svg"], ["-o", "g.svg"]):
        assert main(["run", str(script), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs Graphviz's dot program" in err and "--format dot" in err
    assert not marker.exists()


def test_a_missing_output_folder_is_refused_before_the_script_runs(tmp_path, capsys):
    script, marker = marker_script(tmp_path)
    assert main(["run", str(script), "-o", str(tmp_path / "nowhere" / "t.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not marker.exists()


def test_a_suffix_that_contradicts_the_format_is_warned_about(tmp_path, capsys):
    script, _ = marker_script(tmp_path)
    target = tmp_path / "g.png"
    assert main(["run", str(script), "--format", "dot", "-o", str(target)]) == 0
    err = capsys.readouterr().err
    assert f"warning: writing dot to {target}, whose suffix says png" in err
    assert target.read_text().startswith("digraph")


def test_writing_a_file_prints_one_summary_line_on_stderr(tmp_path, capsys):
    target = tmp_path / "trace.json"
    assert main(["run", DEMO, "-o", str(target)]) == 0
    captured = capsys.readouterr()
    assert f"shapetrace: wrote {target}: 4 module calls, 11 ops, 1 finding\n" in captured.err
    assert "shapetrace LSTM" not in captured.out


def test_several_machine_formats_on_stdout_would_mix_and_are_refused(tmp_path, capsys):
    script, marker = marker_script(tmp_path)
    assert main(["run", str(script), "--format", "table", "--format", "json"]) == 2
    assert "give -o STEM" in capsys.readouterr().err
    assert not marker.exists()


# ------------------------------------------------------- 5. widths
@pytest.fixture(scope="module")
def demo_trace():
    return run_script(str(ROOT / DEMO)).trace


def _render(trace, width: int) -> str:
    text = io.StringIO()
    make_console(text, width=width, color=False).print(report(trace))
    return text.getvalue()


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_report_keeps_every_line_number_code_and_number_at_any_width(demo_trace, width):
    out = _render(demo_trace, width)
    table = out.split("\nST003 ")[0]
    assert max(cell_len(line.rstrip()) for line in out.splitlines()) <= width
    made_before = set(demo_trace.run_info["made_before"])  # the ops outside the model: a line of their own
    assert made_before and "outside the model: 2 ops at line 67" in out
    for call in (call for call in demo_trace.calls if call.id not in made_before):  # file:line of every row
        assert f"{Path(call.location.filename).name}:{call.location.lineno}" in table
    assert re.search(r"\bST003\b", table)  # the code in its row, never cut
    assert "Findings" in table and "Params" in table
    assert "150,337" in table and "150,272" in table
    if width >= 160:
        assert format_location(demo_trace.calls[1].location) in table  # the whole path when it fits


def test_the_width_follows_columns_when_piped(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "90")
    assert main(["run", DEMO]) == 0
    out = capsys.readouterr().out
    report_lines = out[out.index("shapetrace LSTM"):].splitlines()
    assert max(len(line.rstrip()) for line in report_lines) <= 90
    assert "150,337" in out and "lstm_forecaster.py:32" in out


def test_the_table_alone_carries_the_headers_facts_as_its_caption(demo_trace):
    text = io.StringIO()
    Console(file=text, width=160, color_system=None).print(demo_trace.table())
    assert "every tensor float32 on cpu" in text.getvalue()


# ------------------------------------------------------- 6. colour
def test_colour_follows_no_color_force_color_and_the_flag(tmp_path):
    script, _ = marker_script(tmp_path)
    piped = command("run", str(script))
    assert "\x1b[" not in piped.stdout  # a pipe gets no escape codes
    forced = command("run", str(script), env={"FORCE_COLOR": "1"})
    assert COLOR_CODE.search(forced.stdout)
    plain = command("run", str(script), env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not COLOR_CODE.search(plain.stdout)
    assert COLOR_CODE.search(command("run", str(script), "--color", "always").stdout)
    assert "\x1b[" not in command("run", str(script), "--color", "never", env={"FORCE_COLOR": "1"}).stdout


def test_the_api_console_honours_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    trace = run_script(str(ROOT / ST001)).trace
    text = io.StringIO()
    trace.print(file=text)
    assert not COLOR_CODE.search(text.getvalue())


# -------------------------------------------- 7. findings in every format
@pytest.mark.parametrize("format", ["tree", "source"])
def test_tree_and_source_carry_the_findings_block(format, capsys, tmp_path):
    assert main(["run", DEMO, "--format", format]) == 0
    out = capsys.readouterr().out
    assert "ST003 hardcoded-batch-size: torch.randn(5, 5, 64) at line 32" in out
    assert " --> demos/lstm_forecaster.py:32" in out and "\nhelp: " in out
    saved = tmp_path / f"out.{format}"
    assert main(["run", DEMO, "--format", format, "-o", str(saved)]) == 0
    assert "help: " in saved.read_text()


def test_source_never_labels_an_int_with_a_shape(tmp_path):
    script = tmp_path / "ints.py"
    script.write_text(
        "import torch\n"
        "from torch import nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(7, 3)\n"
        "    def forward(self, x):\n"
        "        b = x.size(0)\n"
        "        t = x.shape[1]\n"
        "        n = x.numel()\n"
        "        return self.fc(x).reshape(b * t, 3), n\n"
        "M()(torch.randn(5, 4, 7))\n"
    )
    trace = run_script(str(script)).trace
    lines = trace.annotate().splitlines()
    for code in ("b = x.size(0)", "t = x.shape[1]", "n = x.numel()"):
        assert next(line for line in lines if code in line).rstrip().endswith(code)
    assert any("(20, 3)" in line for line in lines)


# ---------------------------------------------- README samples, 80 and 120
def _readme_block(starting: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("```\n" + starting) + 4
    return text[start:text.index("```", start)].rstrip("\n").splitlines()


@pytest.mark.parametrize("width", [120, 80])
def test_the_readme_sample_is_what_a_terminal_of_that_width_shows(demo_trace, width):
    shown = [line.rstrip() for line in _render(demo_trace, width).rstrip("\n").splitlines()]
    first = "shapetrace LSTM: 4 module calls, 11 ops, 1 finding, 150,337 parameters; every"
    sample = _readme_block(first + (" tensor" if width == 120 else "\n"))
    if sample[-1] == "...":  # the 80-column sample shows the first rows
        sample = sample[:-1]
        shown = shown[:len(sample)]
    assert sample == shown[:len(sample)] and len(sample) >= 10


# ------------------------------------------------ 4. tests without dot
def test_graph_tests_skip_without_dot_unless_ci_requires_it(pytester, monkeypatch):
    pytester.makeconftest("from tests.conftest import pytest_runtest_setup  # noqa: F401\n")
    pytester.makeini("[pytest]\nmarkers = requires_dot: runs dot\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.requires_dot\ndef test_draws():\n    pass\n")
    monkeypatch.setattr("shutil.which", lambda name, *args, **kwargs: None)
    monkeypatch.delenv("SHAPETRACE_REQUIRE_DOT", raising=False)
    pytester.runpytest().assert_outcomes(skipped=1)
    monkeypatch.setenv("SHAPETRACE_REQUIRE_DOT", "1")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dot program is missing and SHAPETRACE_REQUIRE_DOT=1 requires it*"])


# --------------------------------------------------- 8. CLI papercuts
def test_script_arguments_before_double_dash_get_a_hint(capsys):
    assert main(["run", DEMO, "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"arguments for the script go after --: shapetrace run {DEMO} -- --steps 2" in err


def test_the_hint_keeps_options_given_before_the_script(capsys):
    # `--fail-on warning` before the script: the hint once named "warning" the script
    assert main(["run", "--fail-on", "warning", DEMO, "--fixed", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert f"shapetrace run --fail-on warning {DEMO} -- --fixed --steps 2" in err


def test_a_misspelt_command_gets_did_you_mean(capsys):
    assert main(["rnu", DEMO]) == 2
    assert "unknown command 'rnu'; did you mean run?" in capsys.readouterr().err


def test_run_dash_m_runs_a_module_as_python_does(tmp_path, monkeypatch, capsys):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text("import torch\nmake = lambda: torch.nn.Linear(4, 2)\n")
    (package / "train.py").write_text(
        "import sys\nimport torch\nfrom .layers import make\n"  # a relative import: needs -m
        "print('args', sys.argv[1:], __name__)\nmake()(torch.randn(3, 4))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["run", "-m", "pkg.train", "--", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "args ['--epochs', '2'] __main__" in out
    assert "Linear (root)" in out and "(3, 2)" in out
    assert main(["run", "-m", "pkg.nothing"]) == 2
    assert "-m pkg.nothing" in capsys.readouterr().err


def test_help_has_examples_and_exit_codes_and_version_names_torch_and_python(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "shapetrace run train.py -- --epochs 2" in out and "exit codes:" in out
    assert "the traced script or model raised (as python exits 1" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    version = capsys.readouterr().out
    assert re.match(r"shapetrace \S+ \(torch 2\.\S+, Python 3\.\d+\.\d+\)", version)


def test_exit_codes_for_findings_a_raising_script_and_its_own_exit(tmp_path):
    raising = tmp_path / "raises.py"
    raising.write_text("import torch\ntorch.nn.Linear(4, 2)(torch.randn(3, 5))\n")
    exiting = tmp_path / "exits.py"
    exiting.write_text("import sys, torch\ntorch.nn.Linear(4, 2)(torch.randn(3, 4))\nsys.exit(7)\n")
    assert command("run", ST001, "--fail-on", "warning").returncode == EXIT_FINDINGS
    raised = command("run", str(raising))
    assert raised.returncode == 1 and "Traceback" in raised.stderr  # as python exits
    assert command("run", str(exiting)).returncode == 7
    assert command("run", "nowhere.py").returncode == 2


def test_a_script_where_no_module_ran_says_so(tmp_path, capsys):
    script = tmp_path / "plain.py"
    script.write_text("print('no model here')\n")
    assert main(["run", str(script)]) == 0
    captured = capsys.readouterr()
    assert "no nn.Module ran in" in captured.err
    assert "Call" not in captured.out  # no empty table


def test_json_errors_name_the_file(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["show", str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err
    good = tmp_path / "good.json"
    assert main(["run", DEMO, "-o", str(good)]) == 0
    capsys.readouterr()
    assert main(["diff", str(good), str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err


# ------------------------------------------------ 11. findings as data
def test_json_carries_the_findings(tmp_path):
    target = tmp_path / "t.json"
    assert main(["run", DEMO, "-o", str(target)]) == 0
    findings = json.loads(target.read_text())["findings"]
    assert [f["code"] for f in findings] == ["ST003"]
    assert findings[0]["location"] == {"file": "demos/lstm_forecaster.py", "line": 32,
                                       "code": findings[0]["location"]["code"]}
    assert findings[0]["hint"].startswith("read the batch size from the data")


def test_github_annotations_point_at_the_line():
    result = command("run", ST001, "--format", "github")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::error file=demos/bugs/st001_batch_first.py,line=26,"
                               "title=ST001 batch-first-mismatch::")
    assert "%0Ahelp: " in lines[0]


def test_sarif_log_has_the_rule_the_level_and_the_line(tmp_path):
    target = tmp_path / "out.sarif"
    assert main(["run", ST001, "-o", str(target)]) == 0
    log = json.loads(target.read_text())
    run = log["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["id"] == "ST001"
    result = run["results"][0]
    assert result["level"] == "error" and result["ruleId"] == "ST001"
    location = result["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "demos/bugs/st001_batch_first.py"}, "region": {"startLine": 26}}
    assert log["version"] == "2.1.0" and result["ruleIndex"] == 0


def test_explain_prints_a_findings_documentation(capsys):
    assert main(["explain", "st003"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ST003 hardcoded-batch-size (error)")
    assert "Why it matters:" in out and "Wrong:" in out and "Right:" in out
    assert "batch_size = x.size(0)" in out
    # the examples are indented by two and, printed to a pipe, end where their code ends
    wrong = out.split("Wrong:\n", 1)[1].split("Right:", 1)[0].splitlines()
    assert wrong and all(line.startswith("  ") and line == line.rstrip() for line in wrong), wrong
    assert main(["explain", "ST999"]) == 2
    assert "unknown finding code" in capsys.readouterr().err
    assert main(["explain"]) == 0
    assert "ST011  size-dependent-call" in capsys.readouterr().out


def test_every_catalogued_code_has_its_documentation():
    from shapetrace.analyze.checks import load_detectors
    from shapetrace.render.finding_docs import DOCS

    assert {f"ST{n:03d}" for n in range(1, 12)} <= set(DOCS) <= set(load_detectors())
    findings_section = (ROOT / "README.md").read_text().split("## Findings")[1].split("\n## ")[0]
    assert "shapetrace explain ST" in findings_section


# ------------------------------------------- 13. [tool.shapetrace] config
def test_pyproject_config_sets_fail_on_ignore_max_calls_and_format(tmp_path, monkeypatch, capsys):
    script = tmp_path / "model.py"
    script.write_text((ROOT / ST001).read_text())
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.shapetrace]\nfail-on = "warning"\nformat = "json"\nmax-calls = 1\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(script)]) == EXIT_FINDINGS  # fail-on from the file
    document = json.loads(capsys.readouterr().out)  # format from the file
    assert [f["code"] for f in document["findings"]] == ["ST001"]
    assert main(["run", str(script), "--fail-on", "never", "--format", "table"]) == 0  # the command line wins
    capsys.readouterr()
    (tmp_path / "pyproject.toml").write_text('[tool.shapetrace]\nfail-on = "warning"\nignore = ["ST001"]\n')
    assert main(["run", str(script)]) == 0
    (tmp_path / "pyproject.toml").write_text('[tool.shapetrace]\nfail_on = "warning"\n')
    assert main(["run", str(script)]) == 2
    assert "pyproject.toml: [tool.shapetrace] has no setting 'fail_on'" in capsys.readouterr().err


def test_pyproject_ignore_reaches_the_pytest_fixture(pytester):
    pytester.makepyprojecttoml('[tool.shapetrace]\nignore = ["ST005"]\n')
    pytester.makepyfile("""
        import torch

        def test_loss(shapetrace):
            with shapetrace() as t:
                torch.nn.functional.mse_loss(torch.randn(4, 1), torch.randn(4))
            assert [f.code for f in t.findings] == []
            assert "ST005" in t.ignore
    """)
    pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-W", "ignore").assert_outcomes(passed=1)
