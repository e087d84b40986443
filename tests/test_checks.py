"""What each finding says: tensors, shapes, line, the fix, and its limits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import shapetrace
from demos import lstm_forecaster
from demos.bugs import (
    st001_batch_first,
    st002_view_scramble,
    st005_loss_broadcast,
    st006_bidirectional_last_step,
    st007_hidden_state,
    st009_dtype,
    st010_feature_mismatch,
)
from shapetrace.analyze.checks._source import find_call
from shapetrace.core.records import Location
from tests.check_support import codes, line_of, only, traced
from tests.models import buggy_models as buggy
from tests.models import correct_models as correct

pytestmark = pytest.mark.filterwarnings("ignore:Using a target size")


# ------------------------------------------------------------------ ST001
def test_batch_major_data_into_a_seq_first_lstm():
    finding = only(traced((st001_batch_first.Forecaster(), (torch.randn(32, 24, 3),))), "ST001")
    assert finding.severity == "error"
    assert finding.message.startswith(
        f"lstm (LSTM, batch_first=False) at line {line_of(st001_batch_first, 'self.lstm(x)')} steps through "
        f"dim 0 of its input (32, 24, 3) and takes dim 1 as the batch, but its dim 0 ends up as dim 0 of the "
        f"model output (32, 1)")
    last = line_of(st001_batch_first, "out[:, -1, :]")
    assert f"out[:, -1, :] at line {last} takes the last step of the batch axis" in finding.message
    # Only the flag: passing x.transpose(0, 1) instead would leave the output seq-first.
    assert finding.hint == "build it with nn.LSTM(..., batch_first=True)"


def test_equal_batch_and_time_are_reported_as_undecidable():
    finding = only(traced(buggy.batch_first_data_equal_sizes()), "ST001")
    assert finding.severity == "info"
    assert "batch and time are both 8" in finding.message and "cannot tell" in finding.message
    assert "x[:7]" in finding.hint


def test_h0_built_for_the_data_batch_tells_the_layout():
    trace = traced(buggy.batch_first_data_by_hidden_size())
    assert isinstance(trace.error, RuntimeError)  # PyTorch: Expected hidden[0] size (1, 30, 16)
    finding = only(trace, "ST001")
    assert finding.severity == "error"
    assert "h_0 (1, 8, 16) is made for a batch of 8, the length of its dim 0" in finding.message
    assert "ST001" in trace.error.__notes__[0]


class SeqFirstCodeInBatchFirstLSTM(torch.nn.Module):
    """``out[-1]``, the last step of seq-first code, on a batch_first LSTM's output."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 8, batch_first=True)

    def forward(self, x):
        out, _ = self.lstm(x)
        return out[-1]


def test_a_batch_first_lstm_whose_last_step_is_taken_from_dim_0():
    finding = only(traced((SeqFirstCodeInBatchFirstLSTM(), (torch.randn(24, 32, 3),))), "ST001")
    assert "batch_first=True" in finding.message and "out[-1]" in finding.message
    assert "batch_first=False" in finding.hint


def test_consistent_code_gives_no_evidence_either_way():
    model = st001_batch_first.Forecaster()
    model.lstm.batch_first = True  # batch-first code and LSTM; only the data could be seq-first
    assert "ST001" not in codes(traced((model, (torch.randn(24, 32, 3),))))


# ------------------------------------------------------------------ ST002
def test_view_instead_of_transpose():
    model = st002_view_scramble.SeqFirstForecaster()
    finding = only(traced((model, (torch.randn(16, 48, 2),))), "ST002")
    line = line_of(st002_view_scramble, "x = x.view(seq_len, batch, -1)")
    assert finding.message.startswith(f"x.view(48, 16, -1) at line {line} makes (48, 16, 2) from (16, 48, 2)")
    assert finding.hint == "use x.transpose(0, 1)"


def test_merged_batch_and_time_split_back_in_the_wrong_order():
    finding = only(traced(buggy.merged_split_back()), "ST002")
    assert "(10, 4, 1) from (40, 1), whose axes are 4 x 10 in memory" in finding.message
    assert finding.hint == "use pred.view(batch, steps, 1).transpose(0, 1)"  # the sizes as written


def test_reshape_for_conv1d_is_a_permute_in_disguise():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(8, 4, 3)

        def forward(self, x):
            return self.conv(x.reshape(x.size(0), x.size(2), x.size(1)))

    finding = only(traced((Net(), (torch.randn(2, 30, 8),))), "ST002")
    assert finding.hint == "use x.transpose(1, 2)"


def test_the_articles_merge_and_split_is_not_a_scramble():
    assert "ST002" not in codes(traced(correct.seed_forecaster()))


# ------------------------------------------------------------------ ST003
def test_short_last_batch_fails_on_the_baked_in_size():
    model = lstm_forecaster.LSTM(input_size=1, hidden_size=8, num_layers=1, output_size=1, batch_size=5)
    trace = traced((model, (torch.randn(3, 30),)))
    finding = only(trace, "ST003")
    assert finding.severity == "error"
    line = line_of(lstm_forecaster, "input_seq = input_seq.view(self.batch_size, seq_len, 1)")
    assert finding.message == (f"input_seq.view(5, 30, 1) at line {line} asks for (5, 30, 1) from (3, 30): "
                               f"5 (self.batch_size) is a batch size baked in, and this batch has 3")
    assert finding.hint == "use input_seq.view(input_seq.size(0), seq_len, 1)"
    assert trace.error.__notes__[0].split("explained by:")[1].lstrip().startswith("ST003")


def test_baked_in_batch_size_is_a_warning_before_it_fails():
    finding = only(traced(correct.seed_forecaster()), "ST003")
    assert finding.severity == "warning"
    assert "sizes the batch with self.batch_size (5), as do lines 33, 36, 39, 41" in finding.message
    assert "instead of self.batch_size" in finding.hint


def test_literal_batch_size_in_a_view_and_an_initial_state():
    found = [f for f in traced(buggy.literal_batch()).findings if f.code == "ST003"]
    assert [f.message.split(" at ")[0] for f in found] == ["torch.zeros(1, 4, 8)", "x.view(4, 12, 1)"]
    assert all("the literal 4" in f.message for f in found)


def test_literal_that_could_be_batch_or_time_says_so():
    finding = only(traced(buggy.literal_batch_equal_sizes()), "ST003")
    assert "4 is also the size of dim 1, so it cannot tell which of the two is the batch" in finding.message


def test_failed_view_whose_sizes_could_each_be_the_batch_says_so():
    model, _ = buggy.literal_batch_equal_sizes()  # x.view(4, 4, 1)
    finding = only(traced((model, (torch.randn(3, 4),))), "ST003")
    assert finding.severity == "error"
    assert finding.message.endswith("the sizes of dims 0 and 1 would each fit, so it cannot tell which")


def test_initial_state_made_for_another_batch():
    trace = traced(buggy.fixed_state_short_batch())
    st003 = [f for f in trace.findings if f.code == "ST003"]
    # h_0 and c_0, made alike on two lines: one mistake, one finding naming both
    assert len(st003) == 1 and st003[0].severity == "error"
    made = line_of(buggy, "h_0 = torch.zeros(1, self.batch_size, 8)")
    made_c = line_of(buggy, "c_0 = torch.zeros(1, self.batch_size, 8)")
    failed = line_of(buggy, "self.lstm(x.unsqueeze(-1), (h_0, c_0))")
    assert st003[0].message == (f"torch.zeros(1, 5, 8) at line {made} (h_0) and torch.zeros(1, 5, 8) at line "
                                f"{made_c} (c_0) make (1, 5, 8) for a batch of 5 (self.batch_size); lstm (LSTM) "
                                f"at line {failed} then failed on a batch of 3")
    assert "ST007" in codes(trace)


def test_sizes_read_from_the_data_are_not_baked_in():
    model, (x,) = correct.seed_from_data()
    with shapetrace.trace(model) as t:
        model(x)
        model(x[:3])
    assert t.findings == []


# ------------------------------------------------------------------ ST004
def test_view_on_a_batch_first_lstm_output():
    trace = traced(buggy.view_merging_non_contiguous())
    finding = only(trace, "ST004")
    view, lstm = line_of(buggy, "out.view(-1, 8)"), line_of(buggy, "out, _ = self.lstm(x)  # non-contiguous")
    assert finding.message == (
        f"out.view(-1, 8) at line {view} needs (3, 5, 8) contiguous, but its strides are (8, 24, 1); it "
        f"became non-contiguous at lstm (LSTM, batch_first=True) at line {lstm}, which returns a batch_first "
        f"output as a transposed view")
    assert finding.hint == "use out.contiguous().view(-1, 8) or out.reshape(-1, 8)"


def test_view_that_pytorch_accepts_on_a_non_contiguous_tensor():
    trace = traced(buggy.view_splitting_non_contiguous())
    assert trace.error is None and not trace.ops[-1].inputs[0].contiguous
    assert "ST004" not in codes(trace)


def test_non_contiguous_after_a_transpose():
    class Net(torch.nn.Module):
        def forward(self, x):
            return x.transpose(0, 1).view(-1)

    finding = only(traced((Net(), (torch.randn(3, 4),))), "ST004")
    assert "it became non-contiguous at x.transpose(0, 1)" in finding.message


def test_the_failing_view_of_a_chain_on_one_line_is_named_as_written():
    class Net(torch.nn.Module):
        def forward(self, x):
            return x.t().view(4, 3).view(-1)

    trace = traced((Net(), (torch.randn(3, 4),)))
    finding = only(trace, "ST004")
    line = finding.location.lineno
    assert finding.message == (f"x.t().view(4, 3).view(-1) at line {line} needs (4, 3) contiguous, but its "
                               f"strides are (1, 4); it became non-contiguous at x.t() at line {line}")
    assert finding.hint == "use x.t().view(4, 3).contiguous().view(-1) or x.t().view(4, 3).reshape(-1)"
    # ST003 is about the first view of the line, and names it
    assert only(trace, "ST003").message.startswith(f"x.t().view(4, 3) at line {line} sizes the batch")


def test_views_side_by_side_on_one_line_are_told_apart():
    class Net(torch.nn.Module):
        def forward(self, a, b):
            return torch.cat([a.view(-1), b.view(-1)])

    finding = only(traced((Net(), (torch.randn(2, 3), torch.randn(3, 2).t()))), "ST004")
    assert finding.message == (f"b.view(-1) at line {finding.location.lineno} needs (2, 3) contiguous, "
                               f"but its strides are (1, 2)")
    assert finding.hint == "use b.contiguous().view(-1) or b.reshape(-1)"


def test_a_chain_of_views_is_told_apart_on_a_later_pass():
    class Net(torch.nn.Module):
        def forward(self, x):
            return x.view(-1).view(2, -1)

    model = Net()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(2, 4))
        model(torch.randn(4, 2).t())  # the line's third view is the first of its second run
    finding = only(t, "ST004")
    assert finding.message.startswith(f"x.view(-1) at line {finding.location.lineno} needs (2, 4) contiguous")
    assert finding.hint == "use x.contiguous().view(-1) or x.reshape(-1)"


def test_calls_on_a_line_are_counted_in_the_order_they_run():
    line = Location("model.py", 1, "out[i.view(-1)] = a.t().view(b.view(-1).size(0), -1).view(-1)")
    # the value before the target; the receiver, then the arguments, then the call
    assert [find_call(line, {"view"}, occurrence=n).receiver for n in range(5)] == [  # type: ignore[union-attr]
        "b", "a.t()", "a.t().view(b.view(-1).size(0), -1)", "i", "b"]


# ------------------------------------------------------------------ ST005
def test_loss_module_broadcasts_a_column_against_a_vector():
    x, y = st005_loss_broadcast.windows()
    model, loss = st005_loss_broadcast.Forecaster(), torch.nn.MSELoss()
    with shapetrace.trace(None) as t:
        loss(model(x[:32]), y[:32])
    finding = only(t, "ST005")
    assert "input (32, 1) with target (32,): they broadcast to (32, 32)" in finding.message
    assert finding.hint == "use model(x[:32]).squeeze(-1) as the input, or y[:32].unsqueeze(-1) as the target"


def test_functional_loss_and_bce_which_raises():
    assert "ST005" in codes(traced(buggy.functional_loss_broadcast()))
    with pytest.raises(ValueError), shapetrace.trace() as t:
        torch.nn.functional.binary_cross_entropy(torch.rand(4, 1), torch.rand(4))
    assert only(t, "ST005").hint == ("use torch.rand(4, 1).squeeze(-1) as the input, "
                                     "or torch.rand(4).unsqueeze(-1) as the target")


# ------------------------------------------------------------------ ST006
def test_last_step_of_a_bidirectional_output():
    model = st006_bidirectional_last_step.SentimentClassifier()
    finding = only(traced((model, (torch.randint(0, 1000, (4, 9)),))), "ST006")
    line = line_of(st006_bidirectional_last_step, "output[:, -1, :]) ")
    assert finding.message.startswith(f"output[:, -1, :] at line {line} takes the last step of lstm "
                                      f"(LSTM, bidirectional=True) output (4, 9, 96)")
    assert "output[:, -1, :48]" in finding.hint and "h_n[-2], h_n[-1]" in finding.hint


class _TransposedLastStep(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 12, batch_first=True, bidirectional=True)

    def forward(self, x):
        out, _ = self.lstm(x)
        return out.transpose(0, 1)[-1]


def test_the_forward_half_help_indexes_the_tensor_the_code_indexes():
    """``out.transpose(0, 1)[-1]``: the help's forward half indexes the transposed tensor
    at its own time dim (0), ``[-1, :, :12]``; it read ``[:, -1, :12]``, the RNN output's
    layout, which on (T, B, 2H) takes the last sample of every step."""
    model = _TransposedLastStep()
    x = torch.randn(8, 15, 6)
    finding = only(traced((model, (x,))), "ST006")
    forward_half = finding.hint.rsplit("or the forward half alone, ", 1)[1]
    assert forward_half == "out.transpose(0, 1)[-1, :, :12]"
    out, _ = model.lstm(x)
    torch.testing.assert_close(eval(forward_half, {"out": out}), out[:, -1, :12])


@pytest.mark.parametrize(
    "pick",
    [
        "out.index_select(1, torch.tensor([x.size(1) - 1])).squeeze(1)",
        "out.narrow(1, -1, 1).squeeze(1)",
        "out[:, -1:, :].flatten(1)",
        "out.index_select(1, torch.tensor([0])).squeeze(1)",
    ],
)
def test_the_last_step_of_a_bidirectional_output_in_every_spelling(pick):
    """``index_select`` of a one-number index (its value is the creation's recorded
    argument), ``narrow`` and a length-1 slice take the last step as ``out[:, -1]`` does
    (ST006); the first step (index 0) is not the last."""

    class Picked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 12, batch_first=True, bidirectional=True)
            self.head = torch.nn.Linear(24, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(eval(pick, {"torch": torch, "out": out, "x": x}))

    found = [f for f in traced((Picked(), (torch.randn(3, 7, 6),))).findings if f.code == "ST006"]
    assert len(found) == (0 if "[0]" in pick else 1), found


def test_reading_h_n_of_both_directions_is_fine():
    assert "ST006" not in codes(traced(correct.bidirectional_forecaster()))


# ------------------------------------------------------------------ ST007
def test_initial_state_without_a_slot_per_direction():
    trace = traced((st007_hidden_state.BiGRUForecaster(), (torch.randn(16, 24, 4),)))
    finding = only(trace, "ST007")
    assert "got h_0 (2, 16, 32), expected (4, 16, 32): dim 0 must be 4 (num_layers=2 times 2 directions)" \
        in finding.message
    assert finding.hint == "make it with num_layers * 2 in dim 0: (4, 16, 32)"


def test_batch_first_does_not_apply_to_the_initial_state():
    finding = only(traced(buggy.batch_first_hidden_state()), "ST007")
    assert "batch_first does not apply to h_0" in finding.message
    # (its c_0 is h_0.clone(), as wrong: the help names both)
    assert finding.hint == "use h_0.transpose(0, 1).contiguous() and c_0.transpose(0, 1).contiguous()"


class _BothStatesBatchFirst(nn.Module):
    """An LSTM given h_0 and c_0 both made (batch, layers, hidden), or, ``fixed``, transposed."""

    def __init__(self, fixed: bool = False) -> None:
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(3, 8, num_layers=2, batch_first=True)

    def forward(self, x):
        h_0 = torch.zeros(x.size(0), 2, 8)
        c_0 = torch.zeros(x.size(0), 2, 8)
        if self.fixed:  # the help, applied
            h_0, c_0 = h_0.transpose(0, 1).contiguous(), c_0.transpose(0, 1).contiguous()
        return self.lstm(x, (h_0, c_0))[0]


def test_an_lstm_given_both_states_batch_first_gets_one_help_for_both():
    """Applied to h_0 alone, the LSTM raises again on c_0 (a sweep found the second
    run's finding the only way to learn it): the help names both."""
    finding = only(traced((_BothStatesBatchFirst(), (torch.randn(4, 5, 3),))), "ST007")
    assert finding.hint == "use h_0.transpose(0, 1).contiguous() and c_0.transpose(0, 1).contiguous()"
    fixed = traced((_BothStatesBatchFirst(fixed=True), (torch.randn(4, 5, 3),)))
    assert fixed.error is None and "ST007" not in codes(fixed)


# ------------------------------------------------------------------ ST008
def test_initial_state_left_on_the_cpu():
    trace = traced(buggy.mixed_devices())
    finding = only(trace, "ST008")
    made = line_of(buggy, "padding = torch.zeros(x.size(0), 2)")
    assert f"gets a (3, 2) tensor on cpu (made by torch.zeros(3, 2) at line {made})" in finding.message


def test_parameters_on_another_device_than_the_input():
    finding = only(traced(buggy.parameters_elsewhere()), "ST008")
    assert finding.message.endswith("gets its input on cpu, but its parameters are on meta")


# ------------------------------------------------------------------ ST009
def test_float64_into_float32_weights():
    x = torch.randn(4, 24, 1, dtype=torch.float64)
    finding = only(traced((st009_dtype.Forecaster(), (x,))), "ST009")
    line = line_of(st009_dtype, "output, _ = self.lstm(x)")
    assert finding.message == f"lstm (LSTM) at line {line} got input (4, 24, 1) of float64, but its weights are float32"
    assert finding.hint.startswith("convert the data: x.float()")


def test_float64_target_promotes_the_loss():
    finding = only(traced(buggy.float64_target()), "ST009")
    assert finding.severity == "warning" and finding.message.endswith("the result is float64")


# ------------------------------------------------------------------ ST010
def test_univariate_series_without_its_feature_dim():
    finding = only(traced((st010_feature_mismatch.Forecaster(), (torch.randn(5, 30),))), "ST010")
    line = line_of(st010_feature_mismatch, "output, _ = self.lstm(input_seq)")
    assert finding.message == f"lstm (LSTM, input_size=1) at line {line} got (5, 30): its last dim is 30, not 1"
    assert finding.hint == "add the feature dim: pass input_seq.unsqueeze(-1)"


def test_head_too_small_for_a_bidirectional_lstm():
    finding = only(traced(buggy.bidirectional_head_too_small()), "ST010")
    assert finding.hint == "lstm is bidirectional: build nn.Linear(32, ...) (2 * hidden_size features)"


def test_channels_last_data_into_conv1d():
    assert only(traced(buggy.channels_last_conv()), "ST010").hint == \
        "the features are in dim 2: pass x.transpose(1, 2)"


@pytest.mark.parametrize("lengths", [[6, 2, 4], [6, 6, 6]])
def test_the_last_padded_column_is_st027_only_when_some_sequence_is_shorter(lengths):
    """pad_packed_sequence's last column is padding for every shorter sequence (ST027); with
    every sequence full, the packed data has a row per place and the column is right (a
    DataLoader's lengths, which vary from batch to batch, still get it: the variant
    st027_b). Each sequence's own last step is clean either way."""
    from tests.models.axis_models import PackedSummary

    trace = traced((PackedSummary(padded_last=True), (torch.randn(3, 6, 4), torch.tensor(lengths))))
    if lengths == [6, 6, 6]:
        assert "ST027" not in codes(trace)
    else:
        assert only(trace, "ST027").severity == "warning"
        assert "(6 of the 18 places are padding)" in only(trace, "ST027").message
    own_last_step = PackedSummary(padded_last=False)
    assert "ST027" not in codes(traced((own_last_step, (torch.randn(3, 6, 4), torch.tensor(lengths)))))
