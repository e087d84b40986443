"""Test options: ``--update-goldens`` rewrites tests/golden/ from the current output."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite the golden files in tests/golden/ from what the code prints now "
                          "(look at `git diff tests/golden` before committing)")


def pytest_configure(config: pytest.Config) -> None:
    from tests import render_support

    render_support.UPDATE = config.getoption("update_goldens")


# The slow part of the suite, by measurement (pytest --durations=0): commands
# run in a fresh interpreter, whole scripts, memory and fuzz runs. Deselect it
# with `pytest -m "not slow"` while working; CI runs everything. A new test
# that takes over a second gets @pytest.mark.slow or a line here.
SLOW_MODULES = {
    "test_benchmarks_smoke.py", "test_cases_axes.py", "test_cli.py", "test_data_pipeline.py", "test_demos.py",
    "test_faults.py", "test_fuzz.py", "test_goldens.py", "test_memory.py", "test_pytest_plugin.py",
    # landed later, each over a second a test: torchrun ranks, real models, notebooks, whole scripts
    "test_cases_state.py", "test_cli_daily.py", "test_distributed.py", "test_notebook.py", "test_pytest_daily.py",
    "test_real_models.py", "test_render_loops.py", "test_script_reports.py",
}
SLOW_TESTS = {
    "test_bad_input.py::test_command_usage_errors_exit_2_with_one_line",
    "test_bad_input.py::test_the_installed_command_prints_no_traceback_for_a_failing_factory",
    "test_checks_catalogue.py::test_demo_triggers_its_code",
    "test_checks_catalogue.py::test_seed_demo_has_none_of_the_layout_findings",
    "test_fast_paths.py::test_a_trace_holds_and_peaks_under_a_kilobyte_per_event",
    "test_fast_paths.py::test_fake_tensors_trace_a_forward_that_makes_its_own_cpu_tensors",
    "test_layers.py::test_the_import_linter_contract_holds",
    "test_recorder.py::test_meta_device_needs_no_memory",
    "test_recorder.py::test_no_tensor_is_kept_alive",
    "test_tensor_identity.py::test_identities_keep_no_tensor_alive",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.name
        if module in SLOW_MODULES or f"{module}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
# Tests that run Graphviz's `dot` (issue 19): skipped where it is missing, so
# the README's test command passes on a bare machine; CI sets
# SHAPETRACE_REQUIRE_DOT=1, which turns that skip into a failure.
def pytest_runtest_setup(item):
    import os
    import shutil

    import pytest

    if item.get_closest_marker("requires_dot") is None or shutil.which("dot") is not None:
        return
    if os.environ.get("SHAPETRACE_REQUIRE_DOT") == "1":
        pytest.fail("Graphviz's dot program is missing and SHAPETRACE_REQUIRE_DOT=1 requires it", pytrace=False)
    pytest.skip("needs Graphviz's dot program (apt-get install graphviz)")
