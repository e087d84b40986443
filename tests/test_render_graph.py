"""``Trace.graph``: nodes, clusters and shape-labelled edges; SVG/PNG; HTML."""

from __future__ import annotations

import re

import pytest
import torch

import shapetrace
from shapetrace.cli.outputs import View, plan_outputs, write_outputs
from shapetrace.core.finding import Finding
from shapetrace.render.graph.digraph import save_graph
from shapetrace.render.graph.links import GraphLinks
from shapetrace.render.html import trace_html
from tests.models.render_models import Stack, transformer
from tests.render_support import assert_golden, fixed_findings_at_repo, forecaster_trace, silence_checks, trace_of

NODE = re.compile(r"^\t+(\w+) \[label=", re.MULTILINE)
EDGE = re.compile(r'^\t+(\w+) -> (\w+) \[label="([^"]*)"', re.MULTILINE)

_fixed_findings = pytest.fixture(autouse=True)(fixed_findings_at_repo)
seed = pytest.fixture(name="seed")(forecaster_trace)


def nodes(source: str) -> list[str]:
    return NODE.findall(source)


def edges(source: str) -> dict[tuple[str, str], str]:
    return {(tail, head): label for tail, head, label in EDGE.findall(source)}


def node(call: shapetrace.Call) -> str:
    return f"c{call.id}"


# ------------------------------------------------------------ data flow
def test_inputs_alike_take_their_own_producers(seed):
    """h_0 and c_0 share their metadata; each comes from its own line."""
    flow, lstm = GraphLinks(seed), seed["lstm"]
    assert flow.input_source(lstm, 0).call.name == "view"
    h_0, c_0 = flow.input_source(lstm, 1).call, flow.input_source(lstm, 2).call
    assert (h_0.name, h_0.location.code.startswith("h_0 = ")) == ("to", True)
    assert (c_0.name, c_0.location.code.startswith("c_0 = ")) == ("to", True)


def test_a_module_output_comes_from_inside_it(seed):
    flow = GraphLinks(seed)
    assert flow.return_source(seed.root, "").call.name == "__getitem__"
    assert flow.return_source(seed["lstm"], "1.0") is None  # LSTM made h_n itself: not the h_0 it got
    assert flow.input_source(seed["linear"], 0).call.name == "view"


# ---------------------------------------------------------------- graph
def test_dot_holds_the_modules_and_the_shapes(seed):
    source = seed.graph().source
    assert "lstm\nLSTM · 150,272 params" in source
    assert "linear\nLinear · 65 params" in source
    flow = edges(source)
    lstm, linear = node(seed["lstm"]), node(seed["linear"])
    # the tensor at both ends of the collapsed chain: the LSTM's own output, then what Linear gets
    assert flow[(lstm, linear)] == "output (5, 30, 64) non-contig → (150, 64)\nvia .contiguous() .view(150, 64)"
    into_lstm = sorted(label.split("\n")[0] for (_, head), label in flow.items() if head == lstm)
    assert into_lstm == ["(5, 30) → input (5, 30, 1)", "c_0 (5, 5, 64)", "h_0 (5, 5, 64)"]
    assert any(tail.startswith("in_") and head == lstm for tail, head in flow)
    assert any(tail == linear and head.startswith("out_") and label.startswith("(150, 1) → (5, 1) non-contig")
               for (tail, head), label in flow.items())


def test_seed_golden(seed):
    assert_golden("forecaster_graph.dot", seed.graph().source)


def test_ops_become_nodes_when_asked(seed):
    source = seed.graph(ops=True).source
    contiguous = next(c for c in seed.ops if c.name == "contiguous")
    assert edges(source)[(node(seed["lstm"]), node(contiguous))] == "(5, 30, 64) non-contig"
    assert ".view(150, 64)" in source
    assert ".view(150, 64)" not in seed.graph().source.replace("via .contiguous() .view(150, 64)", "")


def test_depth_zero_draws_the_model_as_one_node(seed):
    source = seed.graph(depth=0).source
    assert sorted(nodes(source)) == sorted(["in_0_0", node(seed.root), "out_0"])
    assert "cluster" not in source


def test_a_12_layer_transformer_stays_small_at_depth_2():
    t = trace_of(transformer(12), torch.randn(2, 10, 32))
    source = t.graph(depth=2).source
    assert "layers.0-11 ×12\nTransformerEncoderLayer · 8,544 params" in source
    assert len(nodes(source)) <= 12  # 8 sublayers of one layer, input, output
    assert len(nodes(t.graph(depth=2, collapse=False).source)) > 12 * 8


def test_identical_user_blocks_are_drawn_once_without_a_cycle():
    t = trace_of(Stack(), torch.randint(0, 10, (2, 3)))
    source = t.graph().source
    assert "blocks.0-3 ×4\nBlock · 88 params" in source
    fc, norm = node(t["blocks.0.fc"]), node(t["blocks.0.norm"])
    flow = edges(source)
    assert (node(t["embed"]), fc) in flow
    assert (norm, fc) not in flow  # block k's output into block k+1 is the fold, not an edge
    assert flow[(fc, norm)] == "(2, 3, 8)\nvia .relu() .add(T)"


def test_a_dtype_that_differs_from_the_rest_is_on_its_edge():
    t = trace_of(Stack(), torch.randint(0, 10, (2, 3)))
    into_embed = [label for (_, head), label in edges(t.graph().source).items() if head == node(t["embed"])]
    assert into_embed == ["(2, 3) int64"]


def test_findings_are_drawn_in_a_warning_colour(seed, monkeypatch):
    linear = seed["linear"]
    view = next(c for c in seed.ops if c.name == "view" and c.outputs[0].shape == (150, 64))
    silence_checks(monkeypatch, [
        Finding("ST010", "feature-mismatch", "warning", "m", location=linear.location, call_id=linear.id),
        Finding("ST004", "non-contiguous-view", "error", "m", location=view.location, call_id=view.id)])
    source = seed.graph().source
    assert re.search(rf'{node(linear)} \[label="linear\nLinear · 65 params\n⚠ ST010" color="#d97706" '
                     r'fillcolor="#fde68a"', source)
    # The view is not drawn: the edge that passes through it carries the code.
    assert re.search(rf'{node(seed["lstm"])} -> {node(linear)} \[label="[^"]*⚠ ST004" color="#dc2626"', source)


def test_a_loaded_trace_draws_the_same_graph(seed):
    assert shapetrace.load(seed.to_json()).graph().source == seed.graph().source


# ------------------------------------------------------------- pictures
@pytest.mark.requires_dot
def test_svg_rendering_runs_dot(seed, tmp_path):
    written = save_graph(seed.graph(), str(tmp_path / "forecaster.svg"), "svg")
    svg = (tmp_path / "forecaster.svg").read_text()
    assert written.endswith("forecaster.svg")
    assert "<svg" in svg and ">lstm</text>" in svg and "(150, 64)" in svg


@pytest.mark.requires_dot
def test_png_rendering_runs_dot(seed, tmp_path):
    save_graph(seed.graph(), str(tmp_path / "forecaster.png"), "png")
    assert (tmp_path / "forecaster.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("format", ["svg", "png"])
def test_without_dot_a_picture_is_refused_in_one_line_naming_the_fix(seed, tmp_path, monkeypatch, format):
    """With no ``dot`` on PATH nothing is written in its place: one line says how to
    get Graphviz, or to ask for the DOT source, as ``--format svg`` is refused."""
    bare = tmp_path / "bin"  # a PATH without dot
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    with pytest.raises(shapetrace.ShapetraceError) as refused:
        save_graph(seed.graph(), str(tmp_path / f"forecaster.{format}"), format)
    message = str(refused.value)
    assert "\n" not in message and f"making {format} needs Graphviz's dot program" in message
    assert "apt-get install graphviz" in message and 'format="dot"' in message
    assert list(tmp_path.glob("forecaster.*")) == []
    # the fix it names works without dot
    assert save_graph(seed.graph(), str(tmp_path / "forecaster.dot"), "dot") == str(tmp_path / "forecaster.dot")
    assert (tmp_path / "forecaster.dot").read_text() == seed.graph().source


def test_save_graph_names_its_formats(seed, tmp_path):
    with pytest.raises(shapetrace.ShapetraceError, match=r'format is "svg", "png" or "dot", not \'pdf\''):
        save_graph(seed.graph(), str(tmp_path / "forecaster.pdf"), "pdf")


@pytest.mark.requires_dot
def test_the_command_formats_write_dot_svg_and_png(seed, tmp_path):
    write_outputs(seed, plan_outputs(["dot", "svg", "png"], str(tmp_path / "graph")), View(ops=False))
    assert (tmp_path / "graph.dot").read_text().strip() == seed.graph().source.strip()
    assert "<svg" in (tmp_path / "graph.svg").read_text()
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")


# ---------------------------------------------------------------- html
@pytest.mark.requires_dot
def test_notebook_html_has_the_table_and_the_graph(seed):
    html = seed._repr_html_()
    assert html.startswith('<div class="shapetrace" id="shapetrace-')
    assert "lstm" in html and "(150, 64)" in html
    assert html.count("<svg") == 1 and "<?xml" not in html


def test_notebook_html_without_dot_has_the_table_only(seed, monkeypatch):
    monkeypatch.setattr("shapetrace.render.html.shutil.which", lambda name: None)
    html = trace_html(seed)
    assert '<table class="calls">' in html and "<svg" not in html


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="(?:shapetrace-\w+-)?(\w+)"', html)


def _ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


def test_the_notebook_view_is_the_html_report_in_a_div(seed, monkeypatch):
    """``_repr_html_`` shows what ``t.html()`` shows (header, calls, findings,
    source), in a ``<div>`` a notebook can hold: no document around it, the page's
    style sheet applying inside the div only, every id unique to this rendering."""
    monkeypatch.setattr("shapetrace.render.html.shutil.which", lambda name: None)
    page, cell = seed.html(graph=False), seed._repr_html_()
    assert _sections(cell) == [*_sections(page), "graph"] == ["calls", "findings", "source", "graph"]
    for part in ("<!DOCTYPE", "<html", "<head>", "<body", "<title"):
        assert part in page and part not in cell
    scope = cell.split('id="', 1)[1].split('"', 1)[0]
    rules = re.findall(r"([^{}]+)\{", cell.split("<style>", 1)[1].split("</style>", 1)[0])
    assert rules and all(selector.strip().startswith(f"#{scope}") for rule in rules for selector in rule.split(","))
    # each table row as on the page, its id and its links under this rendering's prefix
    page_rows = re.findall(r'<tr id="(call-\d+)"', page)
    assert page_rows and re.findall(rf'<tr id="{scope}-(call-\d+)"', cell) == page_rows
    targets = set(re.findall(r'href="#([^"]+)"', cell))
    assert targets and targets <= set(_ids(cell))
    # two renderings (two cells showing one trace) share no id
    assert not set(_ids(cell)) & set(_ids(seed._repr_html_()))
