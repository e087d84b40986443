"""The order of findings (``analyze/cause_rank.py``): causes first, in ``t.findings``,
the report, the JSON ``findings`` and the exception note alike; otherwise severity, then
file and line, then code."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.analyze.cause_rank import rank_by_cause
from shapetrace.cli import main
from shapetrace.core.finding import Finding
from shapetrace.core.records import Location
from tests.case_support import VARIANTS, load_file, traced_case, traced_module
from tests.check_support import traced


class LastUnit(nn.Module):
    """``out[:, :, -1]`` (ST013) makes the Linear after it fail (ST010): the index is the cause."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 12, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        last = out[:, :, -1]
        return self.fc(last)


class StateForTheData(nn.Module):
    """Batch-first data, a seq-first LSTM, and an h_0 made for the data's batch: PyTorch
    raises on the state (ST007), whose cause is the layout (ST001, whose help remakes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 8)

    def forward(self, x):
        state = (torch.zeros(1, x.size(0), 8), torch.zeros(1, x.size(0), 8))
        out, _ = self.lstm(x, state)
        return out[:, -1]


def test_the_cause_comes_first_though_it_is_a_warning_and_the_effect_an_error():
    t = traced((LastUnit(), (torch.randn(5, 7, 4),)))
    assert isinstance(t.error, RuntimeError)
    assert [(f.code, f.severity) for f in t.findings] == [("ST013", "warning"), ("ST010", "error")]
    note = "\n".join(t.error.__notes__)
    explained = note.split("explained by:", 1)[1]
    assert explained.index("ST013") < explained.index("ST010")  # the note's order is the same


SCRIPT = """
import torch
from tests.test_cause_rank import LastUnit

LastUnit()(torch.randn(5, 7, 4))
"""


def test_the_report_and_the_json_list_the_cause_first(tmp_path, capsys):
    script = tmp_path / "last_unit.py"
    script.write_text(SCRIPT)
    saved = tmp_path / "findings.json"
    assert main(["run", str(script), "--format", "json", "-o", str(saved)]) == 1
    assert [f["code"] for f in json.loads(saved.read_text())["findings"]] == ["ST013", "ST010"]
    capsys.readouterr()
    main(["run", str(script)])
    out = capsys.readouterr().out
    assert 0 < out.index("ST013 index-wrong-axis") < out.index("ST010 feature-mismatch")


def test_the_layout_before_the_state_it_explains():
    t = traced((StateForTheData(), (torch.randn(6, 9, 3),)))
    assert t.error is not None
    codes = [f.code for f in t.findings]
    assert codes[:2] == ["ST001", "ST007"], [(f.code, f.message) for f in t.findings]


def test_unrelated_findings_by_line():
    t = traced_case("06")
    found = [(f.code, f.location.lineno) for f in t.findings]
    assert found == sorted(found, key=lambda pair: pair[1]) and len(found) == 2


def _finding(code: str, severity: str, line: int | None) -> Finding:
    where = Location("model.py", line, "") if line is not None else None
    return Finding(code, code.lower(), severity, f"{code} at {line}", where)  # type: ignore[arg-type]


def test_the_stable_order_is_severity_then_file_and_line_then_code():
    findings = [_finding("ST006", "warning", 3), _finding("ST002", "error", 9), _finding("ST001", "info", 1),
                _finding("ST003", "warning", 3), _finding("ST011", "warning", None), _finding("ST004", "error", 2)]
    with shapetrace.trace() as t:
        pass
    ranked = rank_by_cause(findings, t)
    assert [f.code for f in ranked] == ["ST004", "ST002", "ST003", "ST006", "ST011", "ST001"]


@pytest.mark.parametrize("shuffled", [False, True])
def test_the_order_does_not_depend_on_the_order_found(shuffled):
    t = traced((LastUnit(), (torch.randn(5, 7, 4),)))
    findings = t.findings[::-1] if shuffled else t.findings
    assert [f.code for f in rank_by_cause(findings, t)] == ["ST013", "ST010"]


# Raising variants whose failing call has a finding that traces the rejected operand to
# where it was made (the line of another finding): that finding is the note's first.
OPERAND_EXPLAINED = {
    "st001_d_seq2seq_encoder_seq_first_raises": ("ST007", "decoder.lstm"),
    "st007_d_bigru_init_hidden_module_attr": ("ST007", "gru"),
    "st007_e_han_word_state_reset_full_batch": ("ST007", "word_gru"),
    "st007_f_bert_lstm_permuted_state_self_batch_size": ("ST007", "lstm"),
}


def _explained(t: shapetrace.Trace) -> list[str]:
    note = "\n".join(t.error.__notes__)
    block = note.split("explained by:", 1)[1].split("also found:", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("ST")]


@pytest.mark.parametrize("name", sorted(OPERAND_EXPLAINED))
def test_the_note_explains_the_rejected_operands_first(name):
    code, call = OPERAND_EXPLAINED[name]
    t = traced_module(load_file(VARIANTS / f"{name}.py"))
    assert t.error is not None
    explained = _explained(t)
    assert len(explained) >= 2 and explained[0].startswith(f"{code} "), explained
    assert explained[0].split(": ", 1)[1].startswith(f"{call} ("), explained[0]
    # it is about the call that raised, and the other explanations follow it, in cause order
    assert "\n".join(t.error.__notes__).startswith(f"shapetrace: raised by {call} ("), t.error.__notes__
    others = [f for f in t.findings if f"{f.code} {f.name}: {f.message}" != explained[0]]
    assert [f"{f.code} {f.name}: {f.message}" for f in others] == explained[1:]


@pytest.mark.parametrize("name", ["st003_a_batch_size_constant_in_loop_view"])
def test_a_finding_that_only_restates_the_mismatch_stays_after_its_cause(name):
    """ST010 on the failing Linear names no line where its input was made: the view's ST003 stays first."""
    t = traced_module(load_file(VARIANTS / f"{name}.py"))
    assert [line[:5] for line in _explained(t)] == ["ST003", "ST010"]
