"""Public-report cases of recurrent state, packed sequences and losses (issue 17).

Each case runs through ``shapetrace.trace(model)`` and through ``shapetrace run``:
a silent bug gets a warning/error finding at the culprit line, a loud one an
exception note whose "explained by" names the cause; the fixed version is clean.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from pathlib import Path

import pytest

import shapetrace
from shapetrace.cli import main
from tests.case_support import at_line, case_path, culprit_line, run_case, serious, traced_case

pytestmark = pytest.mark.filterwarnings("ignore:Using a target size")

PACKAGE = str(Path(shapetrace.__file__).resolve().parent)


def explanation(error: BaseException | None) -> str:
    """The "explained by" part of shapetrace's note on ``error``."""
    assert error is not None
    note = "\n".join(getattr(error, "__notes__", []))
    assert "explained by:" in note, note
    return note.split("explained by:", 1)[1].split("also found:", 1)[0]


def run_error(name: str, fixed: bool = False):
    """``shapetrace run`` of a case in this process: exit code, the script's error, what was printed."""
    from shapetrace.record.script import run_script

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run = run_script(str(case_path(name)), ["--fixed"] if fixed else [])
    return run


def both_ways(name: str):
    """The case's buggy version through the API and through the command."""
    return [("trace", traced_case(name)), ("run", run_case(name).trace)]


@pytest.mark.parametrize("name", ["03", "04", "06", "13", "15"])
def test_the_fixed_version_is_clean_both_ways(name):
    trace = traced_case(name, fixed=True)
    assert trace.error is None and serious(trace) == []
    run = run_case(name, fixed=True)
    assert run.exit_code == 0, run.output
    assert serious(run.trace) == []


# ------------------------------------------------ case 03: LSTM given one tensor
def test_lstm_given_one_state_tensor_is_explained_at_the_call_both_ways():
    line = culprit_line("03", "out, _ = self.rnn(series, state)")
    for how, trace in both_ways("03"):
        assert isinstance(trace.error, IndexError) or type(trace.error).__name__ == "RecordedError", how
        found = at_line([f for f in trace.findings if f.code == "ST015"], line, "03")
        assert found, (how, trace.findings)
        assert "takes the pair (h_0, c_0)" in found[0].message
        assert found[0].hint == "pass (h_0, c_0), e.g. (state, torch.zeros_like(state))"  # the fixed version
    error = run_error("03").error
    assert isinstance(error, IndexError)
    assert "ST015 recurrent-state-structure" in explanation(error)


# ------------------------------------------------ case 04: state carried to the short last batch
def test_state_made_for_a_full_batch_names_its_origin_and_the_short_batch():
    line = culprit_line("04", "out, state = self.lstm(self.embedding(tokens), state)")
    for how, trace in both_ways("04"):
        found = at_line([f for f in trace.findings if f.code == "ST007"], line, "04")
        assert found, (how, trace.findings)
        message = found[0].message
        assert "h_n" in message and "batch of 32" in message, (how, message)
        assert "100 = 3 × 32 + 4" in message, (how, message)
        assert "drop_last=True" in found[0].hint and "x.size(0)" in found[0].hint
    explained = explanation(run_error("04").error)
    assert "ST007" in explained and "short last batch" in explained


def test_a_carried_state_names_the_line_that_began_it():
    """Under ``shapetrace run`` the zeros that began case 04's state are recorded with the
    line that called ``init_hidden`` (``state = model.init_hidden(BATCH)``, once, before
    the loop): the culprit the report names, beside the h_n it was carried through."""
    began = culprit_line("04", "return (torch.zeros(self.layers, batch, self.hidden)")
    called = culprit_line("04", "state = model.init_hidden(BATCH)")
    [found] = [f for f in run_case("04").trace.findings if f.code == "ST007"]
    assert f"it began as zeros at line {began} (init_hidden, called at line {called})" in found.message
    assert f"(init_hidden(x.size(0)) per batch, where line {called} makes init_hidden(BATCH) once)" in found.hint
    # through the API the loop's ops outside the model are not recorded: no line is guessed
    [found] = [f for f in traced_case("04").findings if f.code == "ST007"]
    assert "called at" not in found.message and "where line" not in found.hint


def test_a_state_rebuilt_at_a_fixed_size_before_each_batch_gets_the_call_to_change(tmp_path):
    """``hidden = model.init_hidden(BATCH_SIZE)`` before every batch: the state is not
    carried, its size is written in. ST007 says so, names the loop's line that calls
    ``init_hidden``, and its help applied there (``init_hidden(x.size(0))``) runs the
    script clean, printing the fixed version's loss."""
    import shutil

    from tests.case_support import VARIANTS, run_script

    name = "st007_j_char_lm_init_hidden_each_batch_constant_raises.py"
    source = (VARIANTS / name).read_text().splitlines()
    called = source.index("            hidden = model.init_hidden(BATCH_SIZE)") + 1
    made = source.index("        return (weight.new_zeros(LAYERS, bsz, HID), weight.new_zeros(LAYERS, bsz, HID))") + 1
    done = run_script(VARIANTS / name)
    assert done.exit_code == 1 and "Expected hidden[0] size (2, 12, 32), got [2, 16, 32]" in str(done.trace.error)
    [found] = [f for f in done.trace.findings if f.code == "ST007"]
    assert (
        f"h_0 is made at line {made} (init_hidden, called at line {called}) before each batch, "
        "for a batch of 16 every time" in found.message
    )
    assert "kept for the next batches" not in found.message and "once per epoch" not in found.hint
    assert f"(init_hidden(x.size(0)) at line {called}, not init_hidden(BATCH_SIZE))" in found.hint
    source[called - 1] = source[called - 1].replace("init_hidden(BATCH_SIZE)", "init_hidden(x.size(0))")
    shutil.copy(VARIANTS / "variant_work.py", tmp_path)
    (tmp_path / name).write_text("\n".join(source) + "\n")
    helped, fixed = run_script(tmp_path / name), run_script(VARIANTS / name, "--fixed")
    assert helped.exit_code == 0 and helped.trace.error is None and serious(helped.trace) == [], helped.output
    assert helped.output.splitlines()[0] == fixed.output.splitlines()[0]
    assert helped.output.splitlines()[0].startswith("loss ")


# ------------------------------------------------ case 06: bidirectional last step, plain and packed
def test_last_step_of_a_bidirectional_output_plain_and_through_packing():
    plain = culprit_line("06", "return states[:, -1, :]")
    gather = culprit_line("06", "return torch.gather(padded, 1, index).squeeze(1)")
    for how, trace in both_ways("06"):
        last_steps = [f for f in trace.findings if f.code == "ST006"]
        assert at_line(last_steps, plain, "06"), (how, trace.findings)
        packed = at_line(last_steps, gather, "06")
        assert packed and packed[0].severity == "warning", (how, trace.findings)
        assert "lengths - 1" in packed[0].message
        assert "h_n[-2], h_n[-1]" in packed[0].hint


def test_packed_sequences_are_recorded_and_carry_the_lineage():
    trace = traced_case("06")
    names = [call.name for call in trace.ops]
    assert "pack_padded_sequence" in names and "pad_packed_sequence" in names
    rnn = trace["caption.rnn"]
    packed = next(call for call in trace.ops if call.name == "pack_padded_sequence")
    assert packed.location is not None and "pack_padded_sequence(" in packed.location.code
    from shapetrace.analyze.lineage.flow import analyze

    flow = analyze(trace.calls)
    assert flow.source(rnn, 0) is not None and flow.source(rnn, 0).call is packed  # type: ignore[union-attr]


# ------------------------------------------------ case 13: a loss outside the model, functional
def test_functional_loss_outside_the_model_is_found_both_ways():
    line = culprit_line("13", 'loss = F.smooth_l1_loss(pred, depth, reduction="sum")')
    for how, trace in both_ways("13"):
        found = at_line([f for f in serious(trace) if f.code == "ST005"], line, "13")
        assert found, (how, trace.findings)
        assert "(2, 2, 64, 64)" in found[0].message
        assert found[0].hint == "use depth.unsqueeze(1) as the target, or pred.squeeze(1) as the input"
    assert run_case("13").caught


# ------------------------------------------------ case 15: a loss module outside the model, loud
def test_dense_prediction_at_1_8_names_the_poolings_both_ways():
    line = culprit_line("15", "loss = criterion(output, density)")
    for how, trace in both_ways("15"):
        found = at_line([f for f in trace.findings if f.code == "ST016"], line, "15")
        assert found, (how, trace.findings)
        assert "1/8 of the target's size in dims 2, 3" in found[0].message
        assert "three MaxPool2d(2) (frontend.0.2, frontend.1.2, frontend.2.2)" in found[0].message
        assert "F.avg_pool2d(density, 8) * 64" in found[0].hint  # the fixed version
    model, work = __import__("tests.case_support", fromlist=["load_case"]).load_case("15").make(False)
    with pytest.raises(RuntimeError) as raised, contextlib.redirect_stdout(io.StringIO()), shapetrace.trace(model):
        work()
    assert "ST016 loss-resolution-mismatch" in explanation(raised.value)


def test_a_signal_at_1_4_gets_the_1d_pool_whose_help_gives_the_loss():
    """A strided Conv1d envelope regressor scored against the full-rate envelope: the
    help pools the 1-d target with avg_pool1d (avg_pool2d refuses a (N, C, L) tensor)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    model = nn.Sequential(nn.Conv1d(1, 8, 5, stride=2, padding=2), nn.ReLU(), nn.Conv1d(8, 1, 5, stride=2, padding=2))
    signal, env = torch.randn(4, 1, 256), torch.rand(4, 1, 256)
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        F.l1_loss(model(signal), env)
    found = [f for f in t.findings if f.code == "ST016"]
    assert found and "1/4 of the target's size in dim 2" in found[0].message, t.findings
    assert "F.avg_pool1d(env, 4) * 4" in found[0].hint
    pooled = F.avg_pool1d(env, 4) * 4  # the help, applied
    with shapetrace.trace(model) as t:
        F.l1_loss(model(signal), pooled)
    assert [f for f in t.findings if f.severity != "info"] == []


# ------------------------------------------------ tracebacks and the closing line
LOOP = '''\
import torch
from torch import nn


class StepLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(3, 4)

    def forward(self, x):  # x: (batch, time, features)
        h = torch.zeros(x.size(0), 4)
        for t in range(x.size(1)):
            h = h + self.cell(x[t])
        return h


if __name__ == "__main__":
    StepLoop()(torch.randn(2, 5, 3))
'''


def own_frames(error: BaseException) -> list[str]:
    """Frames of the shapetrace package, or placed by it, in the error's traceback."""
    return [f"{frame.filename}:{frame.name}" for frame in traceback.extract_tb(error.__traceback__)
            if frame.filename.startswith(PACKAGE) or "shapetrace" in frame.name]


def test_a_users_error_keeps_the_frames_python_shows_under_trace_and_run(tmp_path):
    script = tmp_path / "step_loop.py"
    script.write_text(LOOP)
    namespace: dict = {}
    exec(compile(LOOP.replace('if __name__ == "__main__":', "if False:"), str(script), "exec"), namespace)
    model = namespace["StepLoop"]()
    import torch

    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        model(torch.randn(2, 5, 3))
    assert own_frames(raised.value) == []
    lines = [frame.lineno for frame in traceback.extract_tb(raised.value.__traceback__)
             if frame.filename == str(script)]
    assert lines[-1] == 13  # the failing op's own line is the innermost frame
    explained = explanation(raised.value)  # where each operand's size came from
    assert "x[t] at line 13 steps through dim 0 of x (2, 5, 3), so its 5 is x's dim 1" in explained
    assert "x[:, t] steps through time" in explained
    assert "tensor a (2, 4): its dim 0 (2) is dim 0 of torch.zeros(2, 4) at line 11" in explained

    from shapetrace.record.script import run_script

    run = run_script(str(script))
    assert isinstance(run.error, RuntimeError) and own_frames(run.error) == []
    assert "x[t] at line 13 steps through dim 0 of x (2, 5, 3)" in explanation(run.error)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["run", str(script)]) == 1
    printed = err.getvalue() + out.getvalue()
    assert "<shapetrace op>" not in printed and "op_mode.py" not in printed and "recorder.py" not in printed
    assert "script raised RuntimeError (exit 1)" in printed


@pytest.mark.parametrize(("body", "ending", "code"), [
    ("import sys\nsys.exit(3)\n", "script exited with 3", 3),
    ("raise KeyboardInterrupt\n", "script interrupted (exit 130)", 130),
    ("raise ValueError('no data')\n", "script raised ValueError (exit 1)", 1),
])
def test_the_closing_line_says_how_the_script_ended(tmp_path, body, ending, code):
    script = tmp_path / "ends.py"
    script.write_text(body)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        assert main(["run", str(script)]) == code
    assert ending in out.getvalue() + err.getvalue()


# ------------------------------------------------ variants of the same classes
def _findings(model, *inputs, **options):
    import torch  # noqa: F401

    try:
        with shapetrace.trace(model, **options) as t:
            model(*inputs)
    except Exception:
        pass
    return t.findings


def test_unsorted_packing_then_last_valid_step_by_advanced_gather():
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 6, bidirectional=True)  # seq-first

        def forward(self, x, lengths):  # x: (T, B, 4)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            out, _ = self.rnn(packed)
            padded, lens = nn.utils.rnn.pad_packed_sequence(out)
            index = (lens - 1).view(1, -1, 1).expand(1, -1, 12)
            return padded.gather(0, index)[0]

    found = [f for f in _findings(Encoder(), torch.randn(8, 3, 4), torch.tensor([5, 8, 2])) if f.code == "ST006"]
    assert found and found[0].severity == "warning" and "lengths - 1" in found[0].message


def test_pack_sequence_keeps_the_lineage_to_the_last_step():
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 5, bidirectional=True, batch_first=True)

        def forward(self, a, b):
            out, _ = self.gru(nn.utils.rnn.pack_sequence([a, b]))
            padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            return padded[:, -1, :]

    trace_findings = _findings(Tagger(), torch.randn(6, 3), torch.randn(4, 3))
    assert [f.code for f in trace_findings] == ["ST006"]


def test_pairwise_loss_is_info_when_reduced_and_nothing_when_kept_apart():
    import torch
    import torch.nn.functional as F

    with shapetrace.trace() as t:
        F.l1_loss(torch.randn(4, 6, 1), torch.randn(4, 1, 6))
        F.l1_loss(torch.randn(4, 6, 1), torch.randn(4, 1, 6), reduction="none")
        F.mse_loss(torch.randn(4, 3), torch.randn(3))  # one target shared by every row: cannot tell
    found = [(f.code, f.severity, f.hint) for f in t.findings]
    assert found == [("ST005", "info", ""), ("ST005", "info", "")], found


def test_gru_given_a_pair_and_the_catalogue_hint():
    from tests.models import buggy_models as buggy

    model, inputs = buggy.gru_given_pair()
    found = [f for f in _findings(model, *inputs) if f.code == "ST015"]
    assert found and "where a GRU takes h_0 alone" in found[0].message
    assert found[0].hint == "pass h_0 alone: h_0"


FUNCTIONAL_LOSS = '''\
import torch
import torch.nn.functional as F
from torch import nn

model = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.MaxPool2d(2), nn.MaxPool2d(2))
img, target = torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32)
loss = F.mse_loss(model(img), target)
'''


def test_a_functional_loss_after_the_model_gets_the_note_under_run_and_trace(tmp_path):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from shapetrace.record.script import run_script

    script = tmp_path / "functional_loss.py"
    script.write_text(FUNCTIONAL_LOSS)
    run = run_script(str(script))
    assert isinstance(run.error, RuntimeError)
    explained = explanation(run.error)
    assert "ST016" in explained and "1/4 of the target's size" in explained and "two MaxPool2d(2)" in explained

    model = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.MaxPool2d(2), nn.MaxPool2d(2))
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        F.mse_loss(model(torch.rand(2, 3, 32, 32)), torch.rand(2, 1, 32, 32))
    assert "ST016" in explanation(raised.value)


def test_last_valid_step_by_advanced_indexing_padded_or_packed():
    import torch
    from torch import nn

    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 6, bidirectional=True, batch_first=True)

        def forward(self, x, lengths):
            out, _ = self.rnn(x)
            return out[torch.arange(x.size(0)), lengths - 1]

    class Packed(Padded):
        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            return padded[torch.arange(x.size(0)), lengths - 1, :]

    class ForwardHalf(Padded):
        def forward(self, x, lengths):
            out, _ = self.rnn(x)
            return out[torch.arange(x.size(0)), lengths - 1, :6]

    inputs = (torch.randn(3, 7, 4), torch.tensor([7, 3, 5]))
    for model in (Padded(), Packed()):
        found = [f for f in _findings(model, *inputs) if f.code == "ST006"]
        assert found and "lengths - 1" in found[0].message, type(model).__name__
    assert _findings(ForwardHalf(), *inputs) == []


def test_lstm_cell_given_one_state_tensor():
    import torch
    from torch import nn

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(4, 6)

        def forward(self, x):
            h = torch.zeros(x.size(0), 6)
            return self.cell(x, h)[0]

    found = [f for f in _findings(Loop(), torch.randn(3, 4)) if f.code == "ST015"]
    assert found and "where an LSTMCell takes the pair (h, c)" in found[0].message
    assert found[0].hint == "pass (h, c), e.g. (h, torch.zeros_like(h))"


def test_lstm_given_a_tuple_of_one_state_tensor_and_its_help_applied():
    """``self.lstm(x, (h0,))`` (c_0 dropped in a refactor): PyTorch raises "tuple index out
    of range" inside the LSTM; ST015 names it, and the help's pair runs clean."""
    import torch
    from torch import nn

    class Seq(nn.Module):
        def __init__(self, state_of):
            super().__init__()
            self.lstm = nn.LSTM(5, 9, num_layers=3)
            self.state_of = state_of

        def forward(self, x):
            h0 = x.new_zeros(3, x.size(1), 9)
            state = self.state_of(h0)
            out, _ = self.lstm(x, state)
            return out[-1]

    x = torch.randn(8, 2, 5)
    buggy = Seq(lambda h0: (h0,))
    with pytest.raises(IndexError, match="tuple index out of range") as raised, shapetrace.trace(buggy):
        buggy(x)
    found = [f for f in _findings(buggy, x) if f.code == "ST015"]
    assert found and "a state tuple of one tensor, (3, 2, 9), where an LSTM takes the pair (h_0, c_0)" in (
        found[0].message
    )
    assert found[0].hint == "pass (h_0, c_0), e.g. (state[0], torch.zeros_like(state[0]))"
    assert "ST015 recurrent-state-structure" in explanation(raised.value)
    helped = Seq(lambda h0: (lambda state: (state[0], torch.zeros_like(state[0])))((h0,)))  # the help, applied
    assert helped(x).shape == (2, 9) and [f for f in _findings(helped, x) if f.severity != "info"] == []


def test_resolution_mismatch_from_strided_convs_and_functional_pools():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Segmenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.down1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.down2 = nn.Conv2d(8, 5, 3, stride=2, padding=1)

        def forward(self, x):
            return self.down2(F.relu(self.down1(x)))

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):
            return F.max_pool2d(F.max_pool2d(self.conv(x), 2), 2)

    model = Segmenter()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        F.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.randint(0, 5, (2, 32, 32)))
    (found,) = [f for f in t.findings if f.code == "ST016"]
    assert "1/4 of the target's size in dims 2, 3, downsampled by two Conv2d(stride=2) (down1, down2)" in found.message
    assert "mode='bilinear'" in found.hint  # labels are resized by their logits, never averaged
    model = Pooled()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        nn.L1Loss()(model(torch.randn(2, 3, 32, 32)), torch.rand(2, 1, 32, 32))
    (found,) = [f for f in t.findings if f.code == "ST016"]
    assert "downsampled by two max_pool2d" in found.message


def test_a_state_made_once_outside_the_model_and_reused():
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 5)  # seq-first

        def forward(self, x, h_0):
            return self.gru(x, h_0)[0]

    model = Tagger()
    data = torch.randn(7, 10, 3)
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        h_0 = torch.zeros(1, 4, 5)
        for start in range(0, 10, 4):
            model(data[:, start:start + 4], h_0)
    explained = explanation(raised.value)
    assert "h_0 is made at line" in explained and "outside this pass, for a batch of 4" in explained
    assert "10 = 2 × 4 + 2" in explained and "drop_last=True" in explained


COLLECTED = '''\
import sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
gru, fc = nn.GRU(6, 18, batch_first=True), nn.Linear(18, 3)


class Summarizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru, self.fc = gru, fc

    def forward(self, x):
        _, h_n = self.gru(x)
        return self.fc(h_n.squeeze(0) if "--fixed" in sys.argv else h_n.squeeze())


model = Summarizer().eval()
preds = []
with torch.no_grad():
    for (x,) in DataLoader(TensorDataset(torch.randn(11, 9, 6)), batch_size=5):  # 5, 5, 1
        preds.append(model(x))
if "--lookup" in sys.argv:
    {}["missing"]  # an error nothing recorded explains
print(torch.cat(preds).argmax(1))
'''


def test_an_error_after_the_last_call_recorded_is_explained_by_what_ran_inside_it(tmp_path):
    """``torch.cat(preds)`` after the loop (an op ``shapetrace run`` does not record) fails
    on the prediction of a batch of one, squeezed to (3,) in the forward: the note names
    the squeeze; a KeyError there gets no note, and the fixed script runs clean."""
    from shapetrace.record.script import run_script

    path = tmp_path / "collected.py"
    path.write_text(COLLECTED)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_script(str(path))
    assert isinstance(run.error, RuntimeError) and "same number of dimensions" in str(run.error)
    note = "\n".join(getattr(run.error, "__notes__", []))
    # the line that raised (outside any recorded call) first, from the traceback
    assert note.startswith(f"shapetrace: raised at {path}:27, after the last call recorded"), note
    assert note.splitlines()[1] == "    print(torch.cat(preds).argmax(1))", note
    assert "ST014 squeeze-drops-batch: h_n.squeeze() at line 17" in note
    with contextlib.redirect_stdout(io.StringIO()):
        lookup = run_script(str(path), ["--lookup"])
    assert isinstance(lookup.error, KeyError) and "ST014" not in "\n".join(getattr(lookup.error, "__notes__", []))
    with contextlib.redirect_stdout(io.StringIO()):
        fixed = run_script(str(path), ["--fixed"])
    assert fixed.error is None and fixed.exit_code == 0 and serious(fixed.trace) == []


def test_a_loss_refusing_an_extra_size_1_dim_is_explained_and_its_help_runs():
    """(B, T, 1) against (B, T): lined up from the right, T meets B and PyTorch raises.
    ST005 names the extra size-1 dim; its help (``pred.squeeze(-1)``) gives a loss of
    each step against its own target. Sizes that differ otherwise are not this class."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    x, target = torch.randn(6, 20, 4), torch.randn(6, 20)
    with pytest.raises(RuntimeError, match="must match the size") as raised, shapetrace.trace(model) as t:
        pred = model(x)
        F.l1_loss(pred, target)
    found = [f for f in t.findings if f.code == "ST005"]
    assert found and "input (6, 20, 1) with target (6, 20): the input has a size-1 dim" in found[0].message
    assert found[0].hint == "use pred.squeeze(-1) as the input, or target.unsqueeze(-1) as the target"
    assert "ST005 loss-broadcast" in explanation(raised.value)
    with shapetrace.trace(model) as t:
        pred = model(x)
        loss = F.l1_loss(pred.squeeze(-1), target)  # the help, applied
    assert loss.shape == () and [f for f in t.findings if f.severity != "info"] == []
    assert torch.equal(loss, (pred.squeeze(-1) - target).abs().mean())
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        F.l1_loss(model(x)[:, :10], target)  # (6, 10, 1) against (6, 20): no size-1 dim to drop
    assert [f for f in t.findings if f.code == "ST005"] == []


def test_a_cells_state_carried_into_the_short_last_batch_is_st007_with_its_origin():
    """GRUCell's hx made once per epoch for 16 and carried: the short last batch of 13
    raises inside the cell; ST007 says where hx came from (the state the model returned on
    the previous pass) and the batches before, and its help builds the state per batch
    (what the fixed version does) or drops the short batch."""
    from tests.case_support import VARIANTS, run_script

    path = VARIANTS / "st007_i_grucell_tagger_state_per_epoch_short_batch_raises.py"
    done = run_script(path)
    (found,) = [f for f in done.trace.findings if f.code == "ST007"]
    assert "cell (GRUCell) at line 24 got hx (16, 24) with an input of (13, 24), expected (13, 24)" in found.message
    assert "hx is the state that the model returned on the previous pass" in found.message
    assert "45 = 2 × 16 + 13, the short last batch of an epoch" in found.message
    assert found.hint.startswith("build the state for each batch from the data, with x.size(0) in dim 0")
    assert found.hint.endswith("or drop the short last batch: DataLoader(..., drop_last=True)")
    assert "explained by:\n    ST007 hidden-state-mismatch: cell (GRUCell)" in done.output


KEPT_ON_THE_MODEL = '''\
import sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class CharRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 8, 2, batch_first=True)
        self.hidden = None

    def forward(self, x):
        if self.hidden is None or ("--fixed" in sys.argv and self.hidden.size(1) != x.size(0)):
            self.hidden = torch.zeros(2, 6 if "--fixed" not in sys.argv else x.size(0), 8)
        out, h = self.rnn(x, self.hidden)
        self.hidden = h.detach()
        return out


model = CharRNN()
for (x,) in DataLoader(TensorDataset(torch.randn(27, 5, 4)), batch_size=6):  # 6, 6, 6, 6, 3
    model(x).sum().backward()
'''


def test_a_state_kept_on_the_model_between_unrecorded_passes_names_where_it_was_made(tmp_path):
    """``self.hidden = h.detach()`` carried from batch to batch: under ``shapetrace run``
    the passes in between are not recorded, so nothing in the failing pass made the state;
    ST007 names the op that made it on an earlier pass (not "where nothing was recorded")."""
    from shapetrace.record.script import run_script

    path = tmp_path / "kept.py"
    path.write_text(KEPT_ON_THE_MODEL)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_script(str(path))
    assert isinstance(run.error, RuntimeError)
    explained = explanation(run.error)
    assert "h_0 is not made in this pass: zeros at line 15 made it for a batch of 6 on an earlier pass" in explained
    assert "27 = 4 × 6 + 3" in explained and "per batch" in explained
    with contextlib.redirect_stdout(io.StringIO()):
        fixed = run_script(str(path), ["--fixed"])
    assert fixed.error is None and serious(fixed.trace) == []


def test_a_batch_no_dataloader_gives_is_not_called_the_short_last_batch():
    """A state sized for the loader's 8 meets a batch of 1 from elsewhere (a sampling
    step after training): ST007 says no DataLoader of the run gives it, and its help
    does not offer drop_last (the loader ends on a full batch)."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(4, 6)

        def forward(self, x):
            h = torch.zeros(8, 6)  # the loader's batch size, written in
            for t in range(x.size(1)):
                h = self.cell(x[:, t], h)
            return h

    model = Decoder()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        for (x,) in DataLoader(TensorDataset(torch.randn(32, 3, 4)), batch_size=8):
            model(x)
        model(torch.randn(1, 3, 4))  # sampling, one sequence
    [found] = [f for f in t.findings if f.code == "ST007"]
    assert "no DataLoader of this run gives a batch of 1: it was made another way" in found.message
    assert "short last batch" not in found.message and "drop_last" not in found.hint


def test_the_help_names_the_method_that_made_the_carried_state():
    """A state made once per epoch by a method of the model's own (``reset_state(BATCH)``, not
    ``init_hidden``) and carried into the short last batch: the help names that method."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    import shapetrace

    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(4, 8)
            self.hx = self.cx = None

        def reset_state(self, n):
            self.hx, self.cx = torch.zeros(n, 8), torch.zeros(n, 8)

        def forward(self, x):
            self.hx, self.cx = self.cell(x, (self.hx.detach(), self.cx.detach()))
            return self.hx

    torch.manual_seed(0)
    model = Stateful()
    loader = DataLoader(TensorDataset(torch.randn(10, 4)), batch_size=4)  # 4, 4, 2
    with shapetrace.trace(model) as t:
        model.reset_state(4)
        try:
            for (x,) in loader:
                model(x).sum().backward()
        except RuntimeError:
            pass  # the short last batch raises: the finding explains it
    [found] = [f for f in t.findings if f.code == "ST007"]
    assert "reset_state(x.size(0)) per batch" in found.hint, found.hint


def test_an_lstm_given_the_encoders_h_alone_gets_the_encoders_c_in_its_help(tmp_path):
    """``_, (h, c) = self.encoder(past)`` then ``self.decoder(dec_in, h)``: ST015's help names
    the c the line unpacked beside h, ``pass (h, c)``, not zeros (which would start the
    decoder without the encoder's memory); applied, the model computes the fixed version's
    output with no finding. A state that no LSTM returned keeps the zeros example."""
    import torch

    from tests.case_support import VARIANTS, load_file, model_outputs

    name = "st015_h_lstm_encoder_h_only_into_lstm_decoder"
    variant = load_file(VARIANTS / f"{name}.py", name)
    model, work = variant.make(False)
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        work()
    [found] = [f for f in t.findings if f.code == "ST015"]
    source = (VARIANTS / f"{name}.py").read_text().splitlines()
    unpacked = source.index("        _, (h, c) = self.encoder(past)") + 1
    assert found.hint == f"pass (h, c): the c_n that encoder returned beside h at line {unpacked}"
    line = found.location.lineno - 1
    assert source[line].strip() == "out, _ = self.decoder(dec_in, h)  # culprit"
    source[line] = source[line].replace("self.decoder(dec_in, h)", "self.decoder(dec_in, (h, c))")
    (tmp_path / f"helped_{name}.py").write_text("\n".join(source) + "\n")
    helped = load_file(tmp_path / f"helped_{name}.py", f"helped_{name}")
    for got, want in zip(model_outputs(helped), model_outputs(variant, fixed=True), strict=True):
        assert torch.equal(got, want)
    model, work = helped.make(False)
    with shapetrace.trace(model) as again:
        work()
    assert serious(again) == []
    # a GRU encoder's state has no c: the example keeps the zeros (st015_f)
    gru = load_file(VARIANTS / "st015_f_gru_encoder_state_into_lstm_decoder.py", "st015_f_zeros")
    model, work = gru.make(False)
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        work()
    [found] = [f for f in t.findings if f.code == "ST015"]
    assert found.hint == "pass (h_0, c_0), e.g. (state, torch.zeros_like(state))"


def test_a_state_made_in_forward_by_a_helper_names_forwards_call_and_its_help_fixes_it(tmp_path):
    """``state = self.init_hidden(self.batch_size)`` in forward: the zeros run in
    ``init_hidden``'s body (right as written), so ST007 names the line of forward that
    called it, from the source, and its help rewrites that call with the batch read from
    the LSTM's input; applied, the script runs clean and prints the fixed version's loss."""
    import shutil

    from tests.case_support import VARIANTS, load_file, run_script, traced_module

    name = "st007_k_forward_calls_init_hidden_with_an_attribute_raises.py"
    source = (VARIANTS / name).read_text().splitlines()
    called = source.index("            state = self.init_hidden(self.batch_size)") + 1
    made = source.index("        return (torch.zeros(1, batch_size, HID), torch.zeros(1, batch_size, HID))") + 1
    for done in (run_script(VARIANTS / name), traced_module(load_file(VARIANTS / name, "st007_k_api"))):
        trace = done.trace if hasattr(done, "trace") else done
        [found] = [f for f in trace.findings if f.code == "ST007"]
        assert f"h_0 is made at line {made} (init_hidden, called at line {called}) for a batch of 8" in found.message
        wanted = "make it with h.size(0) in dim 1: init_hidden(h.size(0)), not init_hidden(self.batch_size)"
        assert found.hint.startswith(f"{wanted} at line {called}"), found.hint
    source[called - 1] = source[called - 1].replace("init_hidden(self.batch_size)", "init_hidden(h.size(0))")
    shutil.copy(VARIANTS / "variant_work.py", tmp_path)
    (tmp_path / name).write_text("\n".join(source) + "\n")
    helped, fixed = run_script(tmp_path / name), run_script(VARIANTS / name, "--fixed")
    assert helped.exit_code == 0 and serious(helped.trace) == [], helped.output
    assert helped.output.splitlines()[0] == fixed.output.splitlines()[0]
