"""``shapetrace run`` records a model's first ``--max-calls`` input signatures (8);
the calls of later ones are left out, and the report says so in one line per model
(``render/sections.left_out_notes``): a generation loop whose sequence grows each
step read as if it had stopped at the eighth length."""

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
    roots = [c for c in run.trace.calls if c.parent_id is None]
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
