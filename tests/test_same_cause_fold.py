"""Several tensors made with one mistake for one call are one ST003 naming each.

An LSTM's ``h_0`` and ``c_0``, each ``torch.zeros(1, self.batch_size, H)``, are one
wrong batch size and one fix: one finding names both lines and both inputs
(analyze/checks/_same_cause.py), for any RNN whose state inputs share the wrong size,
when the call fails and before (a literal). Tensors made with the size written two
ways (two fixes) stay two findings; literals for two different RNNs too.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import shapetrace
from tests.case_support import VARIANTS, load_file, traced_module
from tests.test_case_variants import run

pytestmark = pytest.mark.filterwarnings("ignore")
H = 6


class States(nn.Module):
    """An RNN whose states are made in forward, in one of several ways."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.batch_size = kind, 8
        if kind == "cell":
            self.rnn = nn.LSTMCell(4, H)
        else:
            self.rnn = nn.LSTM(4, H, batch_first=True)
        self.other = nn.LSTM(4, H, batch_first=True)

    def forward(self, x):
        if self.kind == "cell":
            h = torch.zeros(self.batch_size, H)
            c = torch.zeros(self.batch_size, H)
            return self.rnn(x[:, 0], (h, c))[0]
        if self.kind == "shared":
            state = torch.zeros(1, self.batch_size, H)
            return self.rnn(x, (state, state))[0]
        if self.kind == "two_ways":
            h_wrong = torch.zeros(1, self.batch_size, H)
            c_literal = torch.zeros(1, 8, H)
            return self.rnn(x, (h_wrong, c_literal))[0]
        if self.kind == "literal":
            h0 = torch.zeros(1, 8, H)
            c0 = torch.zeros(1, 8, H)
            return self.rnn(x, (h0, c0))[0]
        if self.kind == "two_rnns":
            first = self.rnn(x, (torch.zeros(1, 8, H), torch.zeros(1, x.size(0), H)))[0]
            second = self.other(x, (torch.zeros(1, 8, H), torch.zeros(1, x.size(0), H)))[0]
            return first + second
        raise ValueError(self.kind)


def _line(text: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(States.forward)
    (found,) = [start + n for n, line in enumerate(lines) if line.strip() == text]
    return found


def _findings(kind: str, batches=(8, 4)):
    model = States(kind)
    with pytest.raises(RuntimeError) if 4 in batches else _nothing(), shapetrace.trace(model) as t:
        for batch in batches:
            model(torch.randn(batch, 5, 4))
    return [f for f in t.findings if f.code == "ST003"], t


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_st007_f_h_0_and_c_0_made_for_the_loaders_batch_are_one_finding_both_ways():
    name = "st007_f_bert_lstm_permuted_state_self_batch_size"
    want = ("torch.zeros(1, 8, 12) at line 31 (h_0) and torch.zeros(1, 8, 12) at line 32 (c_0) make (1, 8, 12) "
            "for a batch of 8 (batch_size); lstm (LSTM) at line 33 then failed on a batch of 4")
    traced = traced_module(load_file(VARIANTS / f"{name}.py", f"fold_{name}"))
    _, ran, _ = run(name)
    for trace in (traced, ran):
        (found,) = [f for f in trace.findings if f.code == "ST003"]
        assert found.message == want and found.location.lineno == 31 and found.severity == "error"
        assert found.hint == ("read the batch size from the data in forward (batch_size = x.size(0)) "
                              "and use it instead of 8")
        assert sorted(f.code for f in trace.findings) == ["ST003", "ST007"]


def test_an_lstm_cells_two_states_made_for_another_batch_are_one_finding():
    (found,), _ = _findings("cell")
    assert found.message.startswith(
        f"torch.zeros(8, 6) at line {_line('h = torch.zeros(self.batch_size, H)')} (h_0) and torch.zeros(8, 6) "
        f"at line {_line('c = torch.zeros(self.batch_size, H)')} (c_0) make (8, 6) for a batch of 8 (self.batch_size); "
        "rnn (LSTMCell)")
    assert found.hint.endswith("instead of self.batch_size")


def test_one_tensor_given_as_both_states_is_named_once_with_both_inputs():
    (found,), _ = _findings("shared")
    line = _line("state = torch.zeros(1, self.batch_size, H)")
    assert found.message.startswith(f"torch.zeros(1, 8, 6) at line {line} (h_0, c_0) makes (1, 8, 6) for a batch of 8")


def test_states_sized_two_ways_are_two_findings_with_their_own_fix():
    found, _ = _findings("two_ways")
    assert [f.location.lineno for f in found] == [_line("h_wrong = torch.zeros(1, self.batch_size, H)"),
                                                  _line("c_literal = torch.zeros(1, 8, H)")]
    assert [f.hint.rpartition(" ")[2] for f in found] == ["self.batch_size", "8"]
    assert all(" makes (1, 8, 6) " in f.message for f in found)


def test_literal_states_of_one_rnn_are_one_warning_before_any_failure():
    found, t = _findings("literal", batches=(8,))
    assert t.error is None
    (one,) = found
    assert one.severity == "warning" and one.location.lineno == _line("h0 = torch.zeros(1, 8, H)")
    assert f"sizes the batch with the literal 8, as do line {_line('c0 = torch.zeros(1, 8, H)')}:" in one.message


def test_literal_states_of_two_rnns_stay_two_warnings():
    found, t = _findings("two_rnns", batches=(8,))
    assert t.error is None and len(found) == 2
    assert all("as do line" not in f.message for f in found)


def test_correct_states_have_no_finding():
    class FromData(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, H, batch_first=True)

        def forward(self, x):
            h = torch.zeros(1, x.size(0), H)
            c = torch.zeros(1, x.size(0), H)
            return self.lstm(x, (h, c))[0]

    model = FromData()
    with shapetrace.trace(model) as t:
        for batch in (8, 4):
            model(torch.randn(batch, 5, 4))
    assert t.error is None and [f for f in t.findings if f.severity != "info"] == []
