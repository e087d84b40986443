"""``shapetrace diff``, row by row (issue 19, item 8): each row is one input or
output of a call, shows only what changed, marks the changed dims (``*64*``,
bold in colour, the asterisks kept without colour) and names an RNN's state
outputs as PyTorch does (``h_n``, ``c_n``)."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

import shapetrace
from shapetrace.analyze.trace_diff import changed_dims, diff_traces
from shapetrace.cli.app import main
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES
from shapetrace.render.diff_table import diff_report

ROOT = Path(__file__).resolve().parent.parent


def traced(model: nn.Module, *inputs: torch.Tensor) -> shapetrace.Trace:
    with shapetrace.trace(model) as t:
        model(*inputs)
    return t


def mlp(hidden: int, *, dtype: torch.dtype = torch.float32, head: bool = False) -> shapetrace.Trace:
    torch.manual_seed(0)
    layers = [nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2)] + ([nn.Tanh()] if head else [])
    model = nn.Sequential(*layers).to(dtype)
    return traced(model, torch.ones(3, 4, dtype=dtype))


def rnn(kind: str, hidden: int) -> shapetrace.Trace:
    torch.manual_seed(0)
    return traced(getattr(nn, kind)(3, hidden, batch_first=True), torch.ones(2, 5, 3))


def rows(before: shapetrace.Trace, after: shapetrace.Trace, *, width: int = 120) -> list[list[str]]:
    """The table's rows as [call, in/out, a.json, b.json, line], cut at the header's columns, without colour."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(diff_report(diff_traces(before, after), "a.json", "b.json"))
    lines = console.file.getvalue().splitlines()
    header = lines[1]
    starts = [header.index(name) for name in ("Call", "In/Out", "a.json", "b.json", "Line")] + [None]
    return [[line[start:end].strip() for start, end in itertools.pairwise(starts)] for line in lines[3:]]


LINE = f"tests/test_diff_rows.py:{traced.__code__.co_firstlineno + 2}"  # model(*inputs) in traced()


def test_a_row_per_changed_tensor_and_nothing_that_did_not_change():
    table = rows(mlp(8), mlp(16))
    assert table == [
        ["0", "out", "(3, *8*)", "(3, *16*)", LINE],  # Linear(4, 8 -> 16): its input (3, 4) is the same, not shown
        ["1", "in", "(3, *8*)", "(3, *16*)", LINE],   # ReLU: in and out
        ["", "out", "(3, *8*)", "(3, *16*)", ""],
        ["2", "in", "(3, *8*)", "(3, *16*)", LINE],   # Linear(8 -> 16, 2): only its input changed
    ]
    text = "\n".join(" ".join(row) for row in table)
    assert "(3, 2)" not in text and "(3, 4)" not in text  # the unchanged output and input are not repeated
    assert "float32" not in text and "cpu" not in text  # nor the fields that did not change


def test_the_api_says_which_tensor_and_which_dims():
    changes = diff_traces(mlp(8), mlp(16))
    assert [c.after.name for c in changes] == ["0", "1", "2"]
    last = changes[-1].tensors
    assert [(t.side, t.name, t.fields, t.dims) for t in last] == [("in", "", ("shape",), (1,))]
    assert last[0].before.shape == (3, 8) and last[0].after.shape == (3, 16)
    assert changes[-1].what == ("shape",)
    assert diff_traces(mlp(8), mlp(8)) == []
    assert changed_dims((5, 30, 64), (5, 30, 32)) == (2,) and changed_dims((5, 1), (5,)) == (0, 1)


def test_a_dtype_change_shows_the_dtypes_only():
    table = rows(mlp(8), mlp(8, dtype=torch.float64))
    modules = [row for row in table if row[0] in ("0", "1", "2")]
    assert [row[:4] for row in modules] == [["0", "in", "float32", "float64"], ["1", "in", "float32", "float64"],
                                            ["2", "in", "float32", "float64"]]
    assert not any("(" in cell for row in table for cell in row[1:4] if not cell.startswith("(root)"))
    change = diff_traces(mlp(8), mlp(8, dtype=torch.float64))[1]
    assert change.what == ("dtype",) and all(t.dims == () for t in change.tensors)


@pytest.mark.parametrize("kind, states", [("LSTM", ["h_n", "c_n"]), ("GRU", ["h_n"]), ("RNN", ["h_n"])])
def test_rnn_state_outputs_are_named_as_pytorch_names_them(kind, states):
    table = rows(rnn(kind, 4), rnn(kind, 6))
    assert table == [[f"{kind} (root)", "out output", "(2, 5, *4*)", "(2, 5, *6*)", LINE]] + [
        ["", f"out {state}", "(1, 2, *4*)", "(1, 2, *6*)", ""] for state in states]
    change = diff_traces(rnn(kind, 4), rnn(kind, 6))[0]
    assert [(t.side, t.name) for t in change.tensors] == [("out", "output")] + [("out", s) for s in states]


def test_an_lstms_given_state_is_named_h_0_and_c_0():
    def run(hidden: int) -> shapetrace.Trace:
        torch.manual_seed(0)
        lstm = nn.LSTM(3, hidden, batch_first=True)
        state = (torch.zeros(1, 2, hidden), torch.zeros(1, 2, hidden))
        return traced(lstm, torch.ones(2, 5, 3), state)

    names = [(t.side, t.name) for t in diff_traces(run(4), run(6))[0].tensors]
    assert names == [("in", "h_0"), ("in", "c_0"), ("out", "output"), ("out", "h_n"), ("out", "c_n")]


def test_added_and_removed_calls_and_a_changed_rank():
    assert rows(mlp(8), mlp(8, head=True)) == [["3 (added)", "out", "—", "(3, 2) float32 cpu", LINE]]
    assert rows(mlp(8, head=True), mlp(8))[0][:4] == ["3 (removed)", "out", "(3, 2) float32 cpu", "—"]
    flat = traced(nn.Flatten(0), torch.ones(2, 3))
    kept = traced(nn.Flatten(1), torch.ones(2, 3))
    assert rows(flat, kept)[0][1:4] == ["out", "(*6*,)", "(*2*, *3*)"]  # one dim became two: all marked


def test_the_marks_survive_no_color_and_colour_makes_them_bold(tmp_path, capsys):
    paths = []
    for hidden in (8, 16):
        path = tmp_path / f"h{hidden}.json"
        path.write_text(mlp(hidden).to_json())
        paths.append(str(path))
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system="standard")
    console.print(diff_report(diff_traces(mlp(8), mlp(16)), "a", "b"))
    assert "(3, \x1b[1;33m*8*\x1b[0m)" in console.file.getvalue()  # bold yellow, marks inside
    assert main(["diff", *paths, "--color", "always"]) == EXIT_DIFFERENCES
    assert "(3, \x1b[1;33m*8*\x1b[0m)" in capsys.readouterr().out
    assert main(["diff", *paths, "--color", "never"]) == EXIT_DIFFERENCES
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "(3, *8*)" in out
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "shapetrace", "diff", *paths], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == EXIT_DIFFERENCES
    assert "\x1b[" not in done.stdout and "(3, *8*)" in done.stdout and "(3, *16*)" in done.stdout


@pytest.mark.parametrize("width", [60, 80])
def test_a_narrow_terminal_wraps_and_never_cuts_a_line_number(width):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(diff_report(diff_traces(rnn("LSTM", 4), rnn("LSTM", 6)), "a", "b"))
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    column = lines[1].index("Line")
    assert "".join(line[column:].strip() for line in lines[3:]) == LINE  # folded, every character kept
    cells = "".join("".join(line[:column].split()) for line in lines[3:])
    assert cells.count("*4*") == cells.count("*6*") == 3 and "h_n" in cells and "c_n" in cells
