"""The pytest plugin end to end with ``pytester``: fixture, snapshots, reports, explanations."""

from __future__ import annotations

import contextvars
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import shapetrace

PACKAGE_DIR = Path(shapetrace.__file__).parent

# The seed forecaster under test; HIDDEN stands for a change to the model.
SEED_TEST = """
import torch
from demos.lstm_forecaster import LSTM

HIDDEN = {hidden}


def test_forecaster(shapetrace):
    model = LSTM(input_size=1, hidden_size=HIDDEN, num_layers=2, output_size=1, batch_size=5)
    with shapetrace(model) as t:
        model(torch.randn(5, 30))
    t.assert_snapshot()
"""
SNAPSHOT = Path("__shapetrace__", "test_seed.test_forecaster.json")


def run(pytester, *args):
    # Hypothesis' plugin re-imports hypothesis in every inner run (1.4 s); none of these tests use it.
    return pytester.runpytest("-p", "no:hypothesispytest", *args)


def write_seed_test(pytester, hidden=64):
    pytester.makepyfile(test_seed=SEED_TEST.format(hidden=hidden))


# ------------------------------------------------------------------ fixture
def test_fixture_traces_like_trace(pytester):
    pytester.makepyfile("""
        import torch
        from torch import nn

        def test_linear(shapetrace):
            model = nn.Linear(4, 2)
            with shapetrace(model) as t:
                model(torch.randn(3, 4)).relu()
            assert t[""].outputs[0].shape == (3, 2)
            assert [c.name for c in t.ops] == ["randn", "relu"]

        def test_options_are_passed_on(shapetrace):
            model = nn.Linear(4, 2)
            with shapetrace(model, ops=False) as t:
                model(torch.randn(3, 4)).relu()
            assert t.ops == ()
    """)
    run(pytester).assert_outcomes(passed=2)


def test_fixture_closes_blocks_the_test_left_open(pytester):
    pytester.makepyfile("""
        import torch
        from torch import nn

        from tests.models.fault_models import hook_state

        MODEL = nn.Linear(4, 2)
        UNTRACED = hook_state(MODEL)

        def test_leaves_a_block_open(shapetrace):
            shapetrace(MODEL).__enter__()
            assert hook_state(MODEL) != UNTRACED and torch._C._len_torch_function_stack() == 1

        def test_hooks_are_gone():
            assert hook_state(MODEL) == UNTRACED
            assert torch._C._len_torch_function_stack() == 0
    """)
    run(pytester).assert_outcomes(passed=2)


# ---------------------------------------------------------------- snapshots
def test_a_missing_snapshot_fails_and_says_how_to_write_it(pytester):
    write_seed_test(pytester)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E * no shape snapshot {SNAPSHOT}; run pytest --shapetrace-update to write it"])
    assert not (pytester.path / SNAPSHOT).exists()


def test_update_writes_the_snapshot_next_to_the_test(pytester):
    write_seed_test(pytester)
    result = run(pytester, "--shapetrace-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*shapetrace: wrote 1 shape snapshot*", f"*{SNAPSHOT}"])
    document = json.loads((pytester.path / SNAPSHOT).read_text())
    assert (document["format"], document["version"]) == ("shapetrace-snapshot", 1)
    lstm = next(call for call in document["calls"] if call["call"] == "lstm")
    assert lstm["type"] == "LSTM"
    assert lstm["outputs"] == [["output", [5, 30, 64], "float32"], ["h_n", [2, 5, 64], "float32"],
                               ["c_n", [2, 5, 64], "float32"]]
    assert [call["call"] for call in document["calls"]][-3:] == ["linear", "view", "__getitem__"]


def test_a_snapshot_passes_while_shapes_hold(pytester):
    write_seed_test(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    written = (pytester.path / SNAPSHOT).read_text()
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "wrote" not in result.stdout.str()
    assert (pytester.path / SNAPSHOT).read_text() == written


def test_a_changed_model_fails_with_a_diff(pytester):
    write_seed_test(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    write_seed_test(pytester, hidden=32)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"E * shapes differ from the snapshot {SNAPSHOT} (run pytest --shapetrace-update to accept them):",
        "E * --- snapshot",
        "E * +++ this run",
        "E * -  lstm: LSTM  input (5, 30, 1) float32, h_0 (2, 5, 64) float32, c_0 (2, 5, 64) float32"
        " -> output (5, 30, 64) float32, h_n (2, 5, 64) float32, c_n (2, 5, 64) float32",
        "E * +  lstm: LSTM  input (5, 30, 1) float32, h_0 (2, 5, 32) float32, c_0 (2, 5, 32) float32"
        " -> output (5, 30, 32) float32, h_n (2, 5, 32) float32, c_n (2, 5, 32) float32",
    ])
    assert "linear: Linear  (150, 32) float32 -> (150, 1) float32" in result.stdout.str()


def test_update_accepts_the_new_shapes(pytester):
    write_seed_test(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    write_seed_test(pytester, hidden=32)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    assert "[5, 30, 32]" in (pytester.path / SNAPSHOT).read_text()
    run(pytester).assert_outcomes(passed=1)


def test_named_snapshots_get_their_own_files(pytester):
    pytester.makepyfile(test_named="""
        import torch
        from torch import nn

        class TestModels:
            def test_two(self, shapetrace):
                for name, features in (("small", 2), ("large", 8)):
                    model = nn.Linear(4, features)
                    with shapetrace(model) as t:
                        model(torch.randn(3, 4))
                    t.assert_snapshot(name)

        def test_twice(shapetrace):
            model = nn.Linear(4, 2)
            with shapetrace(model) as t:
                model(torch.randn(3, 4))
            t.assert_snapshot()
            t.assert_snapshot()
    """)
    result = run(pytester, "--shapetrace-update")
    result.assert_outcomes(passed=1, failed=1)
    names = sorted(path.name for path in (pytester.path / "__shapetrace__").iterdir())
    assert names == ["test_named.TestModels.test_two.large.json", "test_named.TestModels.test_two.small.json",
                     "test_named.test_twice.json"]
    result.stdout.fnmatch_lines(["E * snapshot 'test_named.test_twice' was already taken in this test; "
                                 "give each assert_snapshot() call its own name"])


def test_a_broken_snapshot_is_reported(pytester):
    write_seed_test(pytester)
    (pytester.path / "__shapetrace__").mkdir()
    (pytester.path / SNAPSHOT).write_text('{"format": "something else"}')
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * is not a version 1 shape snapshot; rewrite it with --shapetrace-update"])
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)


def test_assert_snapshot_outside_a_test_run_is_an_error():
    model = torch.nn.Linear(4, 2)
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    # A fresh context is what code outside any pytest test sees.
    with pytest.raises(shapetrace.ShapetraceError, match="works inside a pytest test"):
        contextvars.Context().run(t.assert_snapshot)


# -------------------------------------------------------- failure reports
REPORTED_TEST = """
    import torch
    from torch import nn

    def test_fails(shapetrace):
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        with shapetrace(model) as t:
            model(torch.randn(3, 4))
        assert t["0"].outputs[0].shape[1] == 4

    def test_passes(shapetrace):
        model = nn.Linear(4, 2)
        with shapetrace(model) as t:
            model(torch.randn(3, 4))

    def test_fails_without_fixture():
        assert False
"""


def test_option_appends_the_trace_to_a_failure(pytester):
    pytester.makepyfile(REPORTED_TEST)
    result = run(pytester, "--shapetrace")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines([
        "*_ test_fails _*",
        "*- shapetrace -*",
        "shapetrace Sequential: 3 module calls, 1 op, 0 findings, 40 parameters*",
        "Call*Input shape*Output shape*",
        "*0: Linear*(3, 4)*(3, 8)*",
        "*_ test_fails_without_fixture _*",
    ])
    assert result.stdout.str().count("- shapetrace -") == 1


def test_a_report_that_cannot_render_does_not_stop_the_run(pytester, monkeypatch):
    def broken_report(trace):
        raise RuntimeError("renderer broke")

    # the module as sys.modules holds it: pytester's in-process runs may leave a
    # stale submodule attribute on the package, which a dotted-path patch would follow
    monkeypatch.setattr(importlib.import_module("shapetrace.render.report"), "report", broken_report)
    pytester.makepyfile(REPORTED_TEST)
    result = run(pytester, "--shapetrace")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*- shapetrace -*",
                                 "shapetrace could not render the trace: RuntimeError: renderer broke"])


def test_no_trace_in_reports_without_the_option(pytester):
    pytester.makepyfile(REPORTED_TEST)
    result = run(pytester)
    result.assert_outcomes(failed=2, passed=1)
    assert "- shapetrace -" not in result.stdout.str()


def test_options_are_listed_in_help(pytester):
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--shapetrace *append the shape trace*", "*--shapetrace-update*"])


# ---------------------------------------------------- assert explanations
def test_shape_comparisons_are_explained(pytester):
    pytester.makepyfile("""
        import torch
        from torch import nn

        def model_trace(shapetrace):
            model = nn.LSTM(1, 64, batch_first=True)
            with shapetrace(model) as t:
                model(torch.randn(5, 30, 1))
            return t

        def test_tuple(shapetrace):
            assert model_trace(shapetrace)[""].outputs[0].shape == (5, 30, 32)

        def test_transposed(shapetrace):
            assert model_trace(shapetrace)[""].outputs[0].shape == (30, 5, 64)

        def test_rank(shapetrace):
            assert model_trace(shapetrace)[""].outputs[0].shape == (150, 64)

        def test_metas(shapetrace):
            t = model_trace(shapetrace)
            assert t[""].outputs[0] == t[""].outputs[1]

        def test_meta_and_tuple(shapetrace):
            assert model_trace(shapetrace)[""].outputs[0] == (5, 30, 64)

        def test_torch_size_without_fixture():
            assert torch.zeros(2, 3).shape == (2, 4)

        def test_plain_tuples_without_fixture():
            assert (1, 2) == (1, 3)
    """)
    result = run(pytester)
    result.assert_outcomes(failed=7)
    result.stdout.fnmatch_lines([
        "E       assert (5, 30, 64) == (5, 30, 32)",
        "E         dim 2: 64 != 32",
        "E       assert (5, 30, 64) == (30, 5, 64)",
        "E         dim 0: 5 != 30",
        "E         dim 1: 30 != 5",
        "E         same sizes in another order: a permute/transpose apart",
        "E       assert (5, 30, 64) == (150, 64)",
        "E         rank 3 != 2",
        "E         same number of elements (9,600): a view/reshape apart",
        "E       AssertionError: assert TensorMeta('0', (5, 30, 64), float32, 'cpu') =="
        " TensorMeta('1.0', (1, 5, 64), float32, 'cpu')",
        "E         tensors differ in path, shape, contiguous, stride, nbytes",
        "E           shape: (5, 30, 64) != (1, 5, 64)",
        "E             dim 0: 5 != 1",
        "E       AssertionError: assert TensorMeta('0', (5, 30, 64), float32, 'cpu') == (5, 30, 64)",
        "E         a TensorMeta never equals a shape: compare its .shape (5, 30, 64)",
        "E       assert (2, 3) == (2, 4)",
        "E         dim 1: 3 != 4",
        "E       assert (1, 2) == (1, 3)",
        "E         At index 1 diff: 2 != 3",
    ])


# ----------------------------------------------------------- import cost
def _modules_after_import(prelude: str = "") -> set[str]:
    code = textwrap.dedent(f"""
        import sys
        {prelude}
        import shapetrace.testing.pytest_plugin
        print("\\n".join(sys.modules))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_plugin_module_imports_no_torch():
    # The package's __init__ is stood in for, so only the plugin's own imports count.
    stub_package = (f"import types; package = types.ModuleType('shapetrace'); "
                    f"package.__path__ = [{str(PACKAGE_DIR)!r}]; sys.modules['shapetrace'] = package")
    modules = _modules_after_import(stub_package)
    assert "shapetrace.testing.pytest_plugin" in modules
    assert not {name for name in modules if name == "torch" or name.startswith("torch.")}


def test_pytest_start_up_imports_no_torch():
    assert "torch" not in _modules_after_import()


# ---------------------------------------------------- [tool.shapetrace] format
SOURCE_TEST = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x.view(3, 4))

    def test_fails_in_user_code(shapetrace):
        model = Net()
        with shapetrace(model) as t:
            model(torch.randn(12))
        assert t["fc"].outputs[0].shape == (3, 4)
"""


@pytest.mark.parametrize(("format", "lines"), [
    ("tree", ["*- shapetrace -*", "Sequential (root)*40 params", "├── 0: Linear*40 params"]),
    ("source", ["*- shapetrace -*", "# Net.forward (root) · *", "*return self.fc(x.view(3, 4))*# (3, 2)"]),
    ("json", ["*- shapetrace -*", '*"calls": [*', '*"type": "Linear"*']),
    ("html", ["*- shapetrace -*", "Call*Input shape*Output shape*"]),  # a page is no text: the table
])
def test_the_report_section_takes_the_format_of_the_pyproject(pytester, format, lines):
    pytester.makepyprojecttoml(f'[tool.shapetrace]\nformat = "{format}"\n')
    pytester.makepyfile(REPORTED_TEST + SOURCE_TEST)
    # a fresh interpreter: the checks register their codes once per process
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-W", "ignore", "--shapetrace")
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines(lines)


def test_a_format_that_is_none_errors_the_tests_using_the_fixture(pytester):
    pytester.makepyprojecttoml('[tool.shapetrace]\nformat = "yaml"\n')
    pytester.makepyfile(REPORTED_TEST)
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-W", "ignore")
    result.assert_outcomes(failed=1, errors=2)
    assert ("ShapetraceError: [tool.shapetrace] format 'yaml' is not a format (choose from "
            "table, tree, source, json, dot, github, sarif, svg, png, html)") in result.stdout.str()
