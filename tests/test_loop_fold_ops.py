"""Loop roll-up never hides an op (issue 18 item 2, newcomer review).

Only the repeats of one step of a loop fold: one module, or one op
*expression* (its line and its place on the line, ``Call.site``), with the
same shapes. Two ops of one line (``x.mul(w) * m``, ``q * x + x * q``) and the
two residual adds a ``TransformerEncoderLayer`` runs at the line that called
it are each their own row, node and tree entry, with their own ``×N``.
Every expectation below is written by hand from the models' code.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.render.table import table_rows
from tests.graph_check import check_graph
from tests.render_support import plain_text, trace_of

STEPS = 5


class TwoOpsALine(nn.Module):
    """Each line of the loop holds two ops of one name with the same shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, 4))

    def forward(self, x: torch.Tensor, m: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        for _ in range(STEPS):
            y = x.mul(self.w) * m  # TWO-MULS
            z = q * x + x * q  # THREE-OPS
            x = torch.tanh(y + z)  # ADD-TANH
        return x


class OneOpLoop(nn.Module):
    """A loop whose body is one op: its steps fold into one row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(7):
            x = x * 2  # ONE-MUL
        return x


class Encoder(nn.Module):
    """Two encoder layers off their fast path (training): each runs two residual
    adds of the same shapes at the user's line that called the encoder."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # ENCODER-LINE


def _line(marker: str) -> int:
    """The line of this file holding ``marker`` as a comment."""
    with open(__file__, encoding="utf-8") as source:
        return next(n for n, text in enumerate(source, start=1) if text.rstrip().endswith(f"# {marker}"))


def _two_ops_trace() -> shapetrace.Trace:
    torch.manual_seed(0)
    return trace_of(TwoOpsALine(), torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4))


def _encoder_trace() -> shapetrace.Trace:
    torch.manual_seed(0)
    model = Encoder().train()
    return trace_of(model, torch.randn(5, 2, 8))


def _rows(t: shapetrace.Trace) -> list[tuple[str, int, int]]:
    """(name, line, calls folded) of each table row."""
    return [(row[0].name, row[0].location.lineno if row[0].location else 0, len(row)) for row in table_rows(t)]


# ------------------------------------------------------------ the recorded site
def test_each_expression_of_a_line_has_its_own_site_the_same_in_every_step() -> None:
    t = _two_ops_trace()
    muls = [call for call in t.ops if call.name == "mul" and call.location.lineno == _line("TWO-MULS")]
    assert len(muls) == 2 * STEPS
    first, second = {call.site for call in muls[0::2]}, {call.site for call in muls[1::2]}
    assert len(first) == len(second) == 1 and first != second
    assert all(call.site is None for call in t.modules)


def test_sites_survive_json_and_a_trace_without_them_folds_by_line() -> None:
    t = _two_ops_trace()
    loaded = shapetrace.load(t.to_json())
    assert [call.site for call in loaded.calls] == [call.site for call in t.calls]
    assert _rows(loaded) == _rows(t)
    document = json.loads(t.to_json())
    for call in document["calls"]:
        del call["site"]
    old = shapetrace.load(json.dumps(document))
    assert all(call.site is None for call in old.calls)
    # Without sites the line alone decides, as before sites were recorded.
    assert ("mul", _line("TWO-MULS"), 2 * STEPS) in _rows(old)


# ------------------------------------------------------------ the table
def test_two_ops_of_one_line_are_two_rows_each_with_its_count() -> None:
    t = _two_ops_trace()
    two, three, last = _line("TWO-MULS"), _line("THREE-OPS"), _line("ADD-TANH")
    assert _rows(t)[1:] == [
        ("mul", two, STEPS),  # x.mul(self.w)
        ("mul", two, STEPS),  # ... * m
        ("mul", three, STEPS),  # q * x
        ("mul", three, STEPS),  # x * q
        ("add", three, STEPS),  # ... + ...
        ("add", last, STEPS),  # y + z
        ("tanh", last, STEPS),
    ]
    text = plain_text(t.table(), width=200)
    assert len(re.findall(r"\.mul\(T\) ×5 ", text)) == 4
    assert len(re.findall(r"\.add\(T\) ×5 ", text)) == 2
    assert len(re.findall(r"tanh\(T\) ×5 ", text)) == 1


def test_a_one_op_loop_folds_into_one_row_with_its_count() -> None:
    t = trace_of(OneOpLoop(), torch.randn(3, 4))
    assert _rows(t)[1:] == [("mul", _line("ONE-MUL"), 7)]
    assert ".mul(2) ×7" in plain_text(t.table(), width=200)
    assert re.search(r"x = x \* 2  # ONE-MUL +# \(3, 4\) ×7$", t.annotate(), re.MULTILINE)


def test_the_encoder_layers_two_residual_adds_are_two_rows() -> None:
    t = _encoder_trace()
    adds = [row for row in table_rows(t) if row[0].name == "add"]
    # two identical layers share one row (layers.0-1 ×2); its two adds stay two rows, each
    # holding that add of both layers, never the two adds of one layer
    assert [[(call.parent.name, call.site) for call in row] for row in adds] == [
        [("encoder.layers.0", adds[0][0].site), ("encoder.layers.1", adds[0][0].site)],
        [("encoder.layers.0", adds[1][0].site), ("encoder.layers.1", adds[1][0].site)],
    ]
    assert adds[0][0].site != adds[1][0].site
    assert adds[0][0].location.lineno == _line("ENCODER-LINE")


# ------------------------------------------------------------ the tree
def test_the_tree_shows_every_op_of_a_line_with_its_count() -> None:
    text = plain_text(_two_ops_trace().tree(show_ops=True), width=100)
    assert len(re.findall(r"\.mul\(T\) ×5$", text, re.MULTILINE)) == 4
    assert len(re.findall(r"\.add\(T\) ×5$", text, re.MULTILINE)) == 2
    assert len(re.findall(r"tanh\(T\) ×5$", text, re.MULTILINE)) == 1


def test_the_tree_keeps_both_residual_adds_of_a_folded_layer() -> None:
    text = plain_text(_encoder_trace().tree(show_ops=True), width=100)
    layer = text[text.index("layers.0-1 ×2") :]
    assert re.findall(r"(?:self_attn|norm1|norm2|\.add\(T\))", layer) == [
        "self_attn",
        ".add(T)",
        "norm1",
        ".add(T)",
        "norm2",
    ]


# ------------------------------------------------------------ the annotated source
def test_the_annotated_loop_counts_each_line_once_a_step() -> None:
    source = _two_ops_trace().annotate()
    # (the shapes follow the line's own comment)
    assert re.search(r"y = x\.mul\(self\.w\) \* m  # TWO-MULS +# y \(3, 4\) ×5$", source, re.MULTILINE)
    assert re.search(r"z = q \* x \+ x \* q  # THREE-OPS +# z \(3, 4\) ×5$", source, re.MULTILINE)
    assert re.search(r"x = torch\.tanh\(y \+ z\)  # ADD-TANH +# x \(3, 4\) ×5$", source, re.MULTILINE)


def test_verbose_annotation_shows_both_ops_of_a_line() -> None:
    source = _two_ops_trace().annotate(verbose=True)
    assert re.search(r"# TWO-MULS +# \(3, 4\) -> mul -> mul -> y \(3, 4\) ×5$", source, re.MULTILINE)
    assert re.search(r"# THREE-OPS +# \(3, 4\) -> mul -> mul -> add -> z \(3, 4\) ×5$", source, re.MULTILINE)


# ------------------------------------------------------------ the graph and the HTML report
def test_the_graph_draws_each_op_of_a_line_as_a_node_with_its_count() -> None:
    t = _two_ops_trace()
    graph = check_graph(t, t.graph(show_ops=True).source, what="two ops a line")
    labels = sorted(graph.nodes[node] for node in graph.nodes if node.startswith("c") and node[1:].isdigit())
    assert labels == [".add(T) ×5"] * 2 + [".mul(T) ×5"] * 4 + ["tanh(T) ×5"]


@pytest.mark.parametrize("ops", [True, False])
def test_the_encoder_graph_keeps_both_adds(ops: bool) -> None:
    t = _encoder_trace()
    source = t.graph(show_ops=ops).source
    graph = check_graph(t, source, what="encoder")
    if ops:
        assert sorted(label for label in graph.nodes.values() if "add" in label) == [".add(T)", ".add(T)"]
    else:  # each add is named on the edge it lies on
        assert sum("via .add(T)" in label for _, _, label, _ in graph.edges) == 4


def test_the_html_table_shows_each_op_with_its_count() -> None:
    page = _two_ops_trace().html(graph=False)
    table = page[page.index("<table") : page.index("</table>")]
    assert table.count(".mul(T) ×5") == 4
    assert table.count(".add(T) ×5") == 2
    assert table.count("tanh(T) ×5") == 1
