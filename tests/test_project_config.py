"""``[tool.shapetrace]`` in pyproject.toml (issue 19, item 13): ``max-calls``
through the command, and every key that makes sense in a test (``ignore``,
``fail-on``, ``max-calls``) applied by the pytest fixture."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_USAGE

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # whole scripts, and pytest in a subprocess

# One model, four batch sizes, each run twice: a pass per distinct input shape is recorded.
FOUR_SHAPES = (
    "import torch\n"
    "model = torch.nn.Linear(4, 2)\n"
    "for batch in (8, 8, 5, 5, 3, 3, 2, 2):\n"
    "    model(torch.randn(batch, 4))\n"
)


def recorded_batches(tmp_path: Path, *argv: str) -> list[int]:
    """Run the script through the command in ``tmp_path``; the batch sizes of the passes it recorded."""
    saved = tmp_path / "trace.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(tmp_path / "four.py"), "-o", str(saved), *argv]) == 0
    calls = json.loads(saved.read_text())["calls"]
    return [call["inputs"][0]["shape"][0] for call in calls if call["parent"] is None and call["kind"] == "module"]


def test_max_calls_from_pyproject_limits_the_recorded_passes(tmp_path, monkeypatch):
    (tmp_path / "four.py").write_text(FOUR_SHAPES)
    monkeypatch.chdir(tmp_path)
    assert recorded_batches(tmp_path) == [8, 5, 3, 2]  # no config: the default, 8 distinct shapes
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.shapetrace]\nmax-calls = 2\n')
    assert recorded_batches(tmp_path) == [8, 5]
    assert recorded_batches(tmp_path, "--max-calls", "3") == [8, 5, 3]  # the command line wins
    nested = tmp_path / "scripts"  # the nearest pyproject.toml above the current folder
    nested.mkdir()
    monkeypatch.chdir(nested)
    assert recorded_batches(tmp_path) == [8, 5]
    (tmp_path / "pyproject.toml").write_text("[tool.shapetrace]\nmax-calls = 0\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(tmp_path / "four.py")]) == EXIT_USAGE
    assert err.getvalue().count("\n") == 1 and "max-calls should be at least 1, got 0" in err.getvalue()
    assert "pyproject.toml" in err.getvalue()


TESTS = f"""
import sys

import pytest
import torch
sys.path.insert(0, {str(ROOT)!r})
from tests.models.buggy_models import literal_batch  # ST003 warnings: a literal 4 for the batch


def test_clean(shapetrace):
    model = torch.nn.Linear(4, 2)
    with shapetrace(model):
        model(torch.randn(3, 4))


def test_finding(shapetrace):
    model, (x,) = literal_batch()
    with shapetrace(model):
        model(x)


def test_finding_allowed_here(shapetrace):
    model, (x,) = literal_batch()
    with shapetrace(model, fail_on="never") as t:
        model(x)
    assert [f.code for f in t.findings] == ["ST003", "ST003"]


def test_ignored(shapetrace):
    with shapetrace() as t:
        torch.nn.functional.mse_loss(torch.randn(4, 1), torch.randn(4))  # ST005, an error
    assert "ST005" in t.ignore and t.findings == []


def test_passes(shapetrace):
    model = torch.nn.Linear(4, 2)
    with shapetrace(model) as t:
        for batch in (8, 8, 5, 3, 2):
            model(torch.randn(batch, 4))
    with shapetrace(model, max_calls=3) as three:
        for batch in (8, 8, 5, 3, 2):
            model(torch.randn(batch, 4))
    print("recorded", *([c.inputs[0].shape[0] for c in trace.roots if c.kind == "module"] for trace in (t, three)))
"""


def run_tests(pytester: pytest.Pytester, config: str | None) -> pytest.RunResult:
    if config is not None:
        pytester.makepyprojecttoml(config)
    pytester.makepyfile(test_model=TESTS)
    return pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", "-W", "ignore",
                                         "-s", "-rf")


def test_the_fixture_applies_fail_on_max_calls_and_ignore(pytester):
    result = run_tests(pytester, '[tool.shapetrace]\nfail-on = "warning"\nmax-calls = 2\nignore = ["ST005"]\n')
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    assert "FAILED test_model.py::test_finding - " in out
    failure = out.split("_ test_finding _")[1].split("short test summary")[0]
    assert failure.split("\n", 2)[1].startswith("shapetrace: findings reached fail-on = warning")
    assert "2 findings" in failure and "ST003 hardcoded-batch-size (warning)" in failure and "help:" in failure
    assert "Traceback" not in failure and "pytest_plugin.py" not in failure  # one message, no plugin frames
    assert "recorded [8, 5] [8, 5, 3]" in out  # max-calls = 2 from the file; max_calls=3 in the test wins


def test_without_config_the_fixture_records_every_pass_and_fails_nothing(pytester):
    result = run_tests(pytester, None)
    result.assert_outcomes(passed=4, failed=1)  # test_ignored: ST005 is not ignored without the file
    out = result.stdout.str()
    assert "FAILED test_model.py::test_ignored" in out and "test_finding " not in out.split("short test summary")[1]
    assert "recorded [8, 8, 5, 3, 2] [8, 5, 3]" in out


def test_with_fail_on_set_a_test_without_the_fixture_never_imports_torch(pytester):
    pytester.makepyprojecttoml('[tool.shapetrace]\nfail-on = "warning"\nmax-calls = 2\n')
    pytester.makepyfile(test_plain="""
        import sys

        def test_plain():
            assert 1 + 1 == 2

        def test_after():
            assert "torch" not in sys.modules, "the plugin imported torch"
    """)
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
