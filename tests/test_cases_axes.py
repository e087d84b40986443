"""The public-report cases of the axis family (issue 16): 01, 05, 08, 09, 10, 12.

Each buggy case gets a warning or error finding on the culprit line, through
``shapetrace.trace(model)`` and through ``shapetrace run``; each fixed version
gets none (``--fail-on warning`` exits 0).
"""

from __future__ import annotations

import pytest

from tests.case_support import run_case, serious, traced_case

pytestmark = pytest.mark.filterwarnings("ignore")

AXIS_CASES = ["01", "05", "08", "09", "10", "12"]


@pytest.mark.parametrize("name", AXIS_CASES)
def test_fixed_case_is_clean_through_the_api(name):
    assert serious(traced_case(name, fixed=True)) == []


@pytest.mark.parametrize("name", AXIS_CASES)
def test_fixed_case_is_clean_through_the_command(name):
    run = run_case(name, fixed=True)
    assert run.exit_code == 0, run.output
    assert serious(run.trace) == []
