"""The pytest plugin in daily use (issue 19): the fixture as the module, hidden
frames, unused snapshots, the summary line, snapshots of the model only."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = Path("__shapetrace__", "test_seed.test_forecaster.json")
SEED_TEST = """
import torch
from demos.lstm_forecaster import LSTM


def test_forecaster(shapetrace):
    model = LSTM(input_size=1, hidden_size=64, num_layers=2, output_size=1, batch_size=5)
    with shapetrace(model) as t:
        model({make_input})
    t.assert_snapshot()
"""


def run(pytester, *args):
    # In a subprocess: a failing torch test run in-process after another crashed the interpreter here.
    return pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args)


def write_seed(pytester, make_input="torch.randn(5, 30)"):
    # The pytest subprocess runs in a temporary folder: the repository's demos must stay importable.
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n")
    pytester.makepyfile(test_seed=SEED_TEST.format(make_input=make_input))


def test_the_fixture_exposes_the_modules_api(pytester):
    pytester.makepyfile("""
        import torch

        def test_shapes(shapetrace):
            model = torch.nn.Linear(4, 2)
            with shapetrace(model) as t:
                model(torch.randn(3, 4))
            assert shapetrace.assert_shapes(t, {"": "B 2"}) == {"B": 3}
            assert shapetrace.load(t.to_json())[""].outputs[0].shape == (3, 2)
            assert callable(shapetrace.vary) and shapetrace.Trace is type(t)
    """)
    run(pytester).assert_outcomes(passed=1)


def test_failures_show_the_tests_line_not_shapetraces_frames(pytester):
    pytester.makepyfile("""
        import torch
        import shapetrace as st

        def test_wrong(shapetrace):
            model = torch.nn.Linear(4, 2)
            with shapetrace(model) as t:
                model(torch.randn(3, 4))
            st.assert_shapes(t, {"": "B 3"})

        def test_unknown(shapetrace):
            model = torch.nn.Linear(4, 2)
            with shapetrace(model) as t:
                model(torch.randn(3, 4))
            st.assert_shapes(t, {"": {"h_n": "B 3"}})
    """)
    result = run(pytester)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert 'st.assert_shapes(t, {"": "B 3"})' in out
    assert "shapetrace/testing/" not in out and "def _checks" not in out


def test_snapshots_ignore_how_the_test_made_its_input(pytester):
    write_seed(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    saved = (pytester.path / SNAPSHOT).read_text()
    assert '"depth": 0' in saved and '"randn", "type": "torch.randn", "depth": 0' not in saved
    assert '"randn", "type": "torch.randn", "depth": 1' in saved  # the model's own h_0 stays
    write_seed(pytester, "(torch.ones(5, 30) * 2).view(5, 30)")
    run(pytester).assert_outcomes(passed=1)


def test_unused_snapshots_are_reported_then_deleted_on_update_with_a_summary_line(pytester):
    write_seed(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    stray = pytester.path / "__shapetrace__" / "test_seed.test_removed.json"
    stray.write_text((pytester.path / SNAPSHOT).read_text())
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*shapetrace: found 1 unused shape snapshot*", f"*{stray.name}",
                                 "shapetrace: 1 shape snapshot: 1 passed, 1 unused (pytest --shapetrace-update"
                                 " deletes them)"])
    assert stray.exists()
    run(pytester, "-k", "nothing_matches")  # a partial run proves nothing unused
    assert stray.exists()
    result = run(pytester, "--shapetrace-update")
    result.stdout.fnmatch_lines(["*shapetrace: deleted 1 unused shape snapshot*"])
    assert not stray.exists() and (pytester.path / SNAPSHOT).exists()


def test_a_failing_test_keeps_its_snapshot(pytester):
    write_seed(pytester)
    run(pytester, "--shapetrace-update").assert_outcomes(passed=1)
    write_seed(pytester, "torch.randn(5, 30)); assert False, 'fails first'; (None")
    run(pytester, "--shapetrace-update").assert_outcomes(failed=1)
    assert (pytester.path / SNAPSHOT).exists()
