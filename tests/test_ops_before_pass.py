"""The ops outside the model that made a recorded pass's inputs, under ``shapetrace run``
(``record/before_pass.py``).

``shapetrace run`` records the model's passes, one per input signature, and the losses
after them, not the training loop around them. The ops that build a pass's inputs
outside the model (a transpose, a teacher-forcing ``cat`` of the DataLoader's batch, a
corpus cut into chunks) decide the layout, so those that made the inputs of the first
pass, of a pass right after a recorded one, or of a DataLoader batch of new shapes,
join the trace just before it (and a loss's target, as the loss reads it); every other
op outside the model (metrics, the optimizer) does not. A data-preparation loop before the first pass is recorded a
bounded number of times per line.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest
import torch

import shapetrace
from shapetrace.cli import main
from tests.case_support import CaseRun

pytestmark = pytest.mark.filterwarnings("ignore")

SCRIPT = """
import torch
from torch import nn

torch.manual_seed(0)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


samples = [torch.randn(7, 6) for _ in range(PREP)]  # a data loop before the first pass
data = torch.stack(samples)  # (PREP, 7, 6), batch-first
model = Tagger()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for start in range(0, PREP, 4):
    batch = data[start:start + 4]
    x = batch.transpose(0, 1)  # the seq-first layout the LSTM takes
    y = torch.randint(0, 3, (7, x.size(1)))
    logits = model(x)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))
    accuracy = (logits.argmax(-1) == y).float().mean()  # a metric: not the pass's input
    opt.zero_grad()
    loss.backward()
    opt.step()
print(round(float(loss), 6))
"""


def run_script(tmp: Path, text: str, *options: str) -> CaseRun:
    script = tmp / "script.py"
    script.write_text(text)
    saved = tmp / "trace.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["run", str(script), "-o", str(saved), *options])
    return CaseRun(code, shapetrace.load(saved), out.getvalue())


def top_level_ops(trace: shapetrace.Trace) -> list:
    return [call for call in trace.calls if call.parent_id is None and call.kind == "op"]


@pytest.fixture
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def test_ops_that_made_a_recorded_pass_input_join_the_trace_before_it(folder):
    done = run_script(folder, SCRIPT.replace("PREP", "10"))
    assert done.exit_code == 0, done.output
    passes = [call for call in done.trace.calls if call.parent_id is None and call.kind == "module"]
    # 10 samples in batches of 4: (7, 4, 6) twice, left out the second time, then (7, 2, 6)
    assert [call.inputs[0].shape for call in passes] == [(7, 4, 6), (7, 2, 6)]
    first = passes[0]
    before = [call for call in top_level_ops(done.trace) if call.id < first.id]
    # randn x 10 -> stack -> slice -> transpose, in the order they ran
    assert [call.name for call in before] == ["randn"] * 10 + ["stack", "__getitem__", "transpose"]
    assert [call.outputs[0].shape for call in before[10:]] == [(10, 7, 6), (4, 7, 6), (7, 4, 6)]
    assert before[-1].output_ids[0] == first.input_ids[0]
    assert [call.id for call in before] == list(range(before[0].id, first.id))  # ids are positions
    # the loss's target was made before the pass too: it joins as the loss reads it
    loss = next(call for call in top_level_ops(done.trace) if call.name == "cross_entropy")
    target = [call for call in top_level_ops(done.trace) if first.id < call.id < loss.id and call.name == "randint"]
    assert [call.outputs[0].shape for call in target] == [(7, 4)]
    # the metric and the optimizer made no input of a pass or a loss; nor did the ops
    # of the pass left out (the window after a recorded pass ends as the next one starts)
    names = [call.name for call in top_level_ops(done.trace)]
    assert not set(names) & {"argmax", "eq", "float", "mean", "zero_grad", "_foreach_add_", "add_"}
    assert names.count("transpose") == 1


LOADER_SCRIPT = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
model = nn.GRU(6, 16)  # seq-first
loader = DataLoader(TensorDataset(torch.randn(10, 7, 6)), batch_size=4)  # batches of 4, 4 and 2
for (batch,) in loader:
    out, h_n = model(batch.transpose(0, 1))
    h_n.sum().backward()
"""


def test_a_batch_of_new_shapes_after_passes_left_out_brings_its_ops(folder):
    """After a pass left out, the op mode is off outside the model; a DataLoader batch of
    shapes no batch had (the short last one, whose pass is recorded) turns it on until
    its pass starts: its transpose is recorded too."""
    done = run_script(folder, LOADER_SCRIPT)
    assert done.exit_code == 0, done.output
    passes = [call for call in done.trace.calls if call.parent_id is None and call.kind == "module"]
    assert [call.inputs[0].shape for call in passes] == [(7, 4, 6), (7, 2, 6)]
    made = [(call.name, call.outputs[0].shape) for call in top_level_ops(done.trace) if call.name == "transpose"]
    assert made == [("transpose", (7, 4, 6)), ("transpose", (7, 2, 6))]
    for root in passes:  # each right before its pass, its output that pass's input
        before = next(call for call in top_level_ops(done.trace) if call.id == root.id - 1)
        assert before.output_ids[0] == root.input_ids[0]


def test_a_data_loop_before_the_first_pass_is_recorded_a_bounded_number_of_times(folder):
    from shapetrace.record.before_pass import PER_SITE

    done = run_script(folder, SCRIPT.replace("PREP", "400"))
    assert done.exit_code == 0, done.output
    first = next(call for call in done.trace.calls if call.parent_id is None and call.kind == "module")
    before = [call for call in top_level_ops(done.trace) if call.id < first.id]
    # the stack's 400 inputs were made by randn at one line, past its PER_SITE records:
    # none of them is kept (not 64 of 400), and the chain from the stack to the pass is whole
    assert PER_SITE < 400
    assert [call.name for call in before] == ["stack", "__getitem__", "transpose"]
    assert before[0].inputs[0].shape == (7, 6) and len(before[0].inputs) == 400


def test_the_script_computes_what_it_computes_untraced(folder):
    text = SCRIPT.replace("PREP", "10")
    plain = io.StringIO()
    with contextlib.redirect_stdout(plain):
        exec(compile(text, "plain.py", "exec"), {"__name__": "__main__"})
    done = run_script(folder, text)
    assert done.output.splitlines()[0] == plain.getvalue().strip()


def test_ops_off_records_nothing_outside_the_model(folder):
    done = run_script(folder, SCRIPT.replace("PREP", "10"), "--no-op-recording")
    assert done.exit_code == 0, done.output
    assert {call.name for call in top_level_ops(done.trace)} <= {"cross_entropy"}


def test_a_teacher_forcing_input_built_from_the_loader_batch_decides_the_layout(folder):
    """The decoder's input is ``cat([bos, tgt[:, :-1]], 1)`` of a DataLoader's (B, T)
    batch with B == T: the cat keeps the batch's dim 0 (not the ``full``'s, made to
    fit it), and the seq-first decoder steps through it: ST001 error, only once the
    ops outside the model are recorded."""
    text = '''
import sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
FIXED = "--fixed" in sys.argv


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.gru = nn.GRU(8, 16, batch_first=FIXED)
        self.out = nn.Linear(16, 30)

    def forward(self, tokens):
        h, _ = self.gru(self.embed(tokens))
        return self.out(h)


loader = DataLoader(TensorDataset(torch.randint(2, 30, (24, 6))), batch_size=6)
model = Decoder()
for (target,) in loader:
    bos = torch.full((target.size(0), 1), 1)
    inputs = torch.cat([bos, target[:, :-1]], dim=1)
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 30), target.reshape(-1))
    loss.backward()
'''
    buggy = run_script(folder, text, "--fail-on", "warning")
    found = [f for f in buggy.trace.findings if f.code == "ST001"]
    assert buggy.exit_code == 1 and found and found[0].severity == "error", buggy.output
    assert "target[:, :-1]" in found[0].message and "DataLoader" in found[0].message
    assert "batch_first=True" in found[0].hint
    fixed = run_script(folder, text, "--fail-on", "warning", "--", "--fixed")
    assert fixed.exit_code == 0 and not [f for f in fixed.trace.findings if f.code == "ST001"], fixed.output


def test_trace_records_the_same_ops_as_before(folder):
    """``trace(model)`` records every op outside the model, as it always did: the
    recording aside is the script runner's."""
    model = torch.nn.Linear(3, 2)
    with shapetrace.trace(model) as t:
        x = torch.randn(4, 3).t().contiguous().t()
        model(x)
    assert [call.name for call in top_level_ops(t)] == ["randn", "t", "contiguous", "t"]
