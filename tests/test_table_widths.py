"""The report's table at 80 and 120 columns on real scripts whose call names are
long (pytorch/examples' language_translation Translator: ``transformer.encoder.
layers.0.self_attn``; gat: ``gat1: GraphAttentionLayer`` over ``float32, int64 →
float32``): the names give way (named within the row above, then folded), and
every shape, parameter count and file:line stays whole, as the README says. Before,
the Params column was pushed out of the table (``48,`` at 120, ``1,4`` at 80)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from shapetrace.cli.app import main
from shapetrace.core.text import format_count, format_shape
from shapetrace.record.script import run_script
from shapetrace.render.passes import row_shapes
from shapetrace.render.report import make_console, report
from shapetrace.render.table import table_rows
from tests.case_support import REAL_SCRIPTS
from tests.render_support import cut_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["language_translation_small", "gat_small"])
def script_trace(request):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        run = run_script(str(REAL_SCRIPTS / f"{request.param}.py"))
    assert run.exit_code == 0
    return run.trace


def _whole(token: str, text: str) -> int:
    """How often ``token`` appears not as part of a longer number."""
    return len(re.findall(rf"(?<![\d,]){re.escape(token)}(?![\d,])", text))


@pytest.mark.parametrize("width", [80, 120])
def test_every_shape_count_and_line_stays_whole(script_trace, width) -> None:
    out = io.StringIO()
    make_console(out, width=width, color=False).print(report(script_trace))
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert not cut_text(text)  # only a file's name gives way, from the left
    header = next(line for line in lines if line.startswith("Call "))
    assert header.rstrip().endswith("Params")
    rows = table_rows(script_trace)
    shown = [row[0] for row in rows]
    counts = [format_count(call.num_params) for call in shown if call.kind == "module" and call.num_params]
    assert counts
    for count in set(counts):
        assert _whole(count, text) >= counts.count(count), count
    for row, call in zip(rows, shown):
        for meta in (*call.inputs, *call.outputs):
            if len(row.starts) == 1:  # a row of one batch size shows its call's shapes as they are
                assert format_shape(meta) in text, (call.name, format_shape(meta))
        # passes of other batch sizes folded in: each size that differs as its values, (16|8, 10)
        for shape_text, _ in (*row_shapes(row, output=False), *row_shapes(row, output=True)):
            assert shape_text[shape_text.find("(") :] in text, (call.name, shape_text)
        if call.location is not None:  # the line number whole, the file's name at least its end
            name = call.location.filename.rsplit("/", 1)[-1]
            assert re.search(rf"{re.escape(name[-10:])}:{call.location.lineno}\b", text), call.location


def test_the_translator_at_120_names_modules_within_their_parent(script_trace) -> None:
    if script_trace.root is None or script_trace.root.type != "Translator":
        pytest.skip("the Translator's names")
    out = io.StringIO()
    make_console(out, width=120, color=False).print(report(script_trace))
    text = out.getvalue()
    # the tree's indentation says whose part it is, as t.tree() writes it
    assert "    └─ encoder: TransformerEncoder" in text
    assert "      └─ layers.0-1: TransformerEncoderLayer ×2" in text  # two identical layers, one row
    assert "        └─ self_attn: MultiheadAttention" in text
    assert "transformer.encoder.layers.0" not in text
    out = io.StringIO()
    make_console(out, width=240, color=False).print(report(script_trace))
    assert "        └─ transformer.encoder.layers.0-1.self_attn: MultiheadAttention ×2" in out.getvalue()


def test_no_line_of_the_report_ends_in_a_blank(script_trace) -> None:
    """rich pads each cell to its column's width: a pipe or file got rows ending
    in up to a hundred blanks. Right-aligned counts still line up with Params."""
    out = io.StringIO()
    script_trace.print(file=out)  # not a terminal: plain text, 160 columns
    lines = out.getvalue().splitlines()
    assert not [line for line in lines if line != line.rstrip()]
    header = next(line for line in lines if line.startswith("Call "))
    root = next(line for line in lines if line.startswith(f"{script_trace.root.type} (root)"))
    assert len(root) == len(header) and header.endswith("Params")
    assert root.endswith(format_count(script_trace.root.num_params))


@pytest.mark.parametrize("width", ["80", "120"])
def test_shapetrace_run_prints_no_trailing_blanks(monkeypatch, capsys, width) -> None:
    monkeypatch.setenv("COLUMNS", width)
    assert main(["run", str(REAL_SCRIPTS / "gat_small.py")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("GAT (root)") for line in lines)
    assert not [line for line in lines if line != line.rstrip()]
