"""``t.findings`` reads like the report in a REPL, ``print``, ``rich.print`` and a
notebook, and stays a list (issue 19, item 9: "t.findings shows readably")."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import pickle

import pytest
from rich.console import Console

import shapetrace
from shapetrace.core.text import format_location
from tests.models.buggy_models import batch_first_data_by_hidden_size
from tests.models.correct_models import Example


def traced(example: Example) -> shapetrace.Trace:
    model, inputs = example[0], example[1]
    try:
        with shapetrace.trace(model) as t:
            model(*inputs)
    except RuntimeError:  # this one raises in PyTorch too; the findings explain it
        pass
    return t


@pytest.fixture(scope="module")
def two_findings() -> shapetrace.Trace:
    """Batch-first data into a seq-first LSTM: ST001 and ST007, both errors."""
    t = traced(batch_first_data_by_hidden_size())
    assert [f.code for f in t.findings] == ["ST001", "ST007"]
    return t


def _assert_each_finding_shown(text: str, findings) -> None:
    """Code, name, severity, message, location, the line and help, in the report's order."""
    at = 0
    for finding in findings:
        head = f"{finding.code} {finding.name} ({finding.severity}): {finding.message}"
        parts = [head, f" --> {format_location(finding.location)}", f"  |  {finding.location.code}",
                 f"help: {finding.hint}" if finding.hint else ""]
        for part in filter(None, parts):
            found = text.find(part, at)
            assert found >= 0, f"{part!r} missing (or out of order) in:\n{text}"
            at = found + len(part)


def test_repr_and_print_show_each_finding_as_the_report_does(two_findings):
    findings = two_findings.findings
    shown = repr(findings)
    assert shown.splitlines()[0] == "2 findings"
    _assert_each_finding_shown(shown, findings)
    assert str(findings) == shown
    printed = io.StringIO()
    print(findings, file=printed)
    assert printed.getvalue() == shown + "\n"
    assert "\x1b[" not in shown  # no escape codes in a plain repr
    # what the report prints, severity aside, is there word for word
    report = io.StringIO()
    two_findings.print(file=report)
    for finding in findings:
        assert f"{finding.code} {finding.name}: " in report.getvalue()


def test_rich_print_and_a_notebook_cell_show_the_same_findings(two_findings):
    findings = two_findings.findings
    console = Console(file=io.StringIO(), width=400, force_terminal=True, color_system="standard")
    console.print(findings)
    coloured = console.file.getvalue()
    assert "\x1b[1;31mST001" in coloured  # an error's code in bold red, as in the report
    plain = Console(file=io.StringIO(), width=400, color_system=None)
    plain.print(findings)
    _assert_each_finding_shown(plain.file.getvalue(), findings)
    html = findings._repr_html_()
    assert html.startswith("<pre") and html.count("<pre") == 1
    for finding in findings:
        assert finding.code in html and format_location(finding.location) in html


def test_ipython_shows_the_repr():
    pretty = pytest.importorskip("IPython.lib.pretty")
    findings = traced(batch_first_data_by_hidden_size()).findings
    assert pretty.pretty(findings) == repr(findings)


def test_findings_stay_a_list_that_compares_pickles_and_serialises(two_findings, tmp_path):
    findings = two_findings.findings
    assert isinstance(findings, list) and len(findings) == 2
    assert findings[0].code == "ST001" and [f.code for f in findings[::-1]] == ["ST007", "ST001"]
    assert findings == list(findings) and list(findings) == findings
    assert findings == two_findings.findings and findings is not two_findings.findings
    for restored in (pickle.loads(pickle.dumps(findings)), copy.deepcopy(findings), copy.copy(findings)):
        assert restored == findings and type(restored) is type(findings)
        assert repr(restored) == repr(findings)
    rows = json.loads(json.dumps([dataclasses.asdict(f) for f in findings]))
    assert [row["code"] for row in rows] == ["ST001", "ST007"]
    # a loaded trace finds the same, and shows them the same way
    path = tmp_path / "t.json"
    path.write_text(two_findings.to_json())
    loaded = shapetrace.load(path)
    assert loaded.findings == findings and repr(loaded.findings) == repr(findings)


def test_no_findings_reads_as_an_empty_list():
    from tests.models.buggy_models import forward_half_last_step

    findings = traced(forward_half_last_step()).findings
    assert findings == [] and not findings and repr(findings) == "[]"
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(findings)
    assert console.file.getvalue() == "0 findings\n"
