"""A functional loss in the user's code (``F.mse_loss(model(x), y)`` after the
forward, outside any module) is drawn in every view, even with ops hidden: it is
where a prediction and a target that disagree in shape show (ST005, ST016)."""

from __future__ import annotations

import io
import os
import re

import pytest
from rich.console import Console

from shapetrace.cli import main
from tests.case_support import VARIANTS, case_path, load_file, traced_module

# Re-written public reports whose loss is a torch.nn.functional call in the training step.
LOSSES = {
    "st005_e_mse_functional_target_extra_dim": ("mse_loss", "ST005"),
    "st016_c_1d_signal_downsampled": ("mse_loss", "ST016"),
    "case13_depth_loss_missing_channel": ("smooth_l1_loss", "ST005"),
}


def _text(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(renderable)
    return out.getvalue()


def _loss_rows(text: str, loss: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip("└─ ").startswith(f"{loss}(")]


@pytest.fixture(scope="module", params=sorted(LOSSES))
def case(request):
    name = request.param
    path = case_path(name) if name.startswith("case") else VARIANTS / f"{name}.py"
    return name, traced_module(load_file(path))


def test_the_table_and_the_tree_show_the_loss_with_ops_hidden(case):
    name, t = case
    loss, code = LOSSES[name]
    assert [f.code for f in t.findings if f.severity != "info"] == [code]
    for text in (_text(t.table(show_ops=False)), _text(t.tree())):
        [row] = _loss_rows(text, loss)
        assert code in text.split(row, 1)[1].split("\n(", 1)[0] + row, text
    # other ops stay hidden: only the losses are drawn
    assert not re.search(r"^\s*(└─ )?\.(view|squeeze|reshape)\(", _text(t.table(show_ops=False)), re.M)


def test_the_graph_draws_the_loss_fed_by_the_model(case):
    name, t = case
    loss, code = LOSSES[name]
    source = t.graph().source  # ops hidden by default
    [node] = re.findall(rf'(c\d+) \[label="{loss}\(', source)
    feeders = re.findall(rf"(c\d+) -> {node} ", source)
    modules = set(re.findall(r'(c\d+) \[label="[\w.]+\n', source))
    assert feeders and set(feeders) <= modules, source  # the model's output, through hidden ops
    assert code in source.split(f"{node} [label=", 1)[1].split("]", 1)[0]


def test_the_html_report_shows_the_loss_with_ops_hidden(case):
    name, t = case
    loss, _ = LOSSES[name]
    from shapetrace.render.html_report import html_report

    calls = html_report(t, ops=False, graph=False).split('<section id="calls">', 1)[1].split("</section>", 1)[0]
    assert re.search(rf'<tr id="call-\d+" class="op[^"]*"><td class="call"[^>]*>{loss}\(T, T', calls), calls


def test_run_with_ops_hidden_lists_the_loss_row(capsys):
    script = VARIANTS / "st005_e_mse_functional_target_extra_dim.py"
    assert main(["run", str(script), "--no-ops"]) == 0
    out = capsys.readouterr().out
    [row] = _loss_rows(out, "mse_loss")
    assert "ST005" in row, out


def test_the_annotated_source_shows_the_loss_line_with_what_it_compared(case):
    name, t = case
    loss, code = LOSSES[name]
    [call] = {c.location.lineno: c for c in t.calls if c.name == loss}.values()
    listing = t.annotate()
    block = listing.split("# the loss, outside the model · ", 1)[1]
    assert block.splitlines()[0].endswith(f"{os.path.basename(call.location.filename)}:{call.location.lineno}"), block
    [line] = [text for text in block.splitlines()[1:] if f"{loss}(" in text]
    assert f"input {tuple(call.inputs[0].shape)}, target {tuple(call.inputs[1].shape)} -> " in line, line
    assert f"[{code}]" in line
