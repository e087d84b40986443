"""The lines under a script's report that say what the table cannot.

``shapetrace run`` records a model's first ``--max-calls`` input signatures (8); the
calls of later ones are left out, and the report says so in one line per model
(``render/sections.left_out_notes``): a generation loop whose sequence grows each
step read as if it had stopped at the eighth length. A short last batch's note
(``analyze/census.short_batch_notes``) ties it to the call in the loop over its loader."""

from __future__ import annotations

import io

import shapetrace
from shapetrace.cli.app import main
from shapetrace.record.script import run_script
from shapetrace.render.report import make_console, report

GROWING = """
import torch
from torch import nn

model = nn.GRU(4, 8, batch_first=True)
for length in range(1, 13):  # 12 lengths: the last 4 past --max-calls 8
    model(torch.randn(1, length, 4))
for _ in range(3):
    model(torch.randn(1, 12, 4))  # the 12th length again: left out too
model(torch.randn(1, 1, 4))  # a shape recorded already: counted with it
"""


def _report_text(trace: shapetrace.Trace) -> str:
    out = io.StringIO()
    make_console(out, width=200, color=False).print(report(trace))
    return out.getvalue()


def test_calls_past_max_calls_are_told_with_their_count(tmp_path) -> None:
    path = tmp_path / "generate.py"
    path.write_text(GROWING)
    run = run_script(str(path))
    assert run.exit_code == 0
    roots = [c for c in run.trace.calls if c.parent_id is None and c.kind == "module"]
    assert [c.inputs[0].shape[1] for c in roots] == list(range(1, 9))
    notes = [line for line in _report_text(run.trace).splitlines() if line.startswith("not recorded: ")]
    assert notes == [
        "not recorded: GRU (root) ran 7 more times, on 4 more input shapes than --max-calls 8 records "
        "(a model's first 8 shapes); run with a larger --max-calls to see them"
    ]
    # the JSON keeps what the note is made of
    loaded = shapetrace.load(run.trace.to_json())
    assert [line for line in _report_text(loaded).splitlines() if line.startswith("not recorded: ")] == notes


def test_no_note_when_every_shape_was_recorded(tmp_path, capsys) -> None:
    path = tmp_path / "generate.py"
    path.write_text(GROWING)
    assert main(["run", "--max-calls", "12", str(path)]) == 0
    assert "not recorded:" not in capsys.readouterr().out


TWO_LOOPS = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Linear(6, 2)
train_dl = DataLoader(TensorDataset(torch.randn(40, 6)), batch_size=16)  # last batch: 8
val_dl = DataLoader(TensorDataset(torch.randn(8, 6)), batch_size=16)  # one batch: 8, as train's last
for (x,) in train_dl:
    model(x)
with torch.no_grad():
    for (x,) in val_dl:
        model(x)
"""


def test_a_short_batch_is_tied_to_the_call_in_the_loop_over_its_loader(tmp_path, capsys) -> None:
    """A script's training and validation loops share a function (``<module>``): a short
    batch is "it" only for a call inside the loop over its loader. The validation pass,
    of the shape of the training's last batch, is not recorded again: its note names the
    training call as having run on "a batch of 8", not on "it" (it claimed that line saw
    the validation batch)."""
    path = tmp_path / "loops.py"
    path.write_text(TWO_LOOPS)
    lines = TWO_LOOPS.splitlines()
    train_call, val_call = (n for n, line in enumerate(lines, 1) if line.strip() == "model(x)")
    assert main(["run", "--color", "never", str(path)]) == 0
    notes = " ".join(" ".join(line.split()) for line in capsys.readouterr().out.splitlines()).split("data: ")[1:]
    assert any(
        "gives 40 samples" in note
        and "Linear ran on it at " in note
        and f"loops.py:{train_call} with input (8, 6)" in note
        for note in notes
    ), notes
    assert any(
        "gives 8 samples" in note and "Linear ran on a batch of 8 at " in note and f"loops.py:{train_call} " in note
        for note in notes
    ), notes
    assert val_call > train_call
