"""The graph of a training script follows the report's sections (issue 18):
one cluster per top-level model, labelled as its section, most parameters
first; the data transforms (nn.Modules called in the DataLoader) in a cluster
of their own, each folded into one node with its count, as the table's row;
no dangling node or edge (tests/graph_check.py reads the DOT back).
Scripts: tests/real_scripts/ (pytorch/examples' mnist and dcgan, small)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

import shapetrace
from shapetrace.render.sections import split_sections
from tests.case_support import REAL_SCRIPTS, traced_real_script
from tests.graph_check import check_graph

SCRIPTS = REAL_SCRIPTS


@pytest.fixture(scope="module")
def mnist() -> shapetrace.Trace:
    return traced_real_script("mnist_small")


@pytest.fixture(scope="module")
def gan() -> shapetrace.Trace:
    return traced_real_script("gan_small")


def _section_of(graph, node: str) -> str:
    """The section cluster a node is drawn in ("" when at the top level)."""
    return next((name for name in graph.clusters[node] if name.startswith("cluster_section_")), "")


def _model_nodes(trace: shapetrace.Trace, graph, section) -> set[str]:
    """The graph's call nodes of one section's calls and everything under them."""
    inside = {call.id for root in section.roots for call in _walk(root)}
    return {node for node in graph.nodes if node[1:].isdigit() and node[0] == "c" and int(node[1:]) in inside}


def _walk(call):
    yield call
    for child in call.children:
        yield from _walk(child)


@pytest.mark.parametrize("show_ops", [False, True])
@pytest.mark.parametrize("script", ["mnist_small", "gan_small"])
def test_each_section_is_a_cluster_and_the_transforms_fold_into_one_node(script, show_ops, request) -> None:
    trace = request.getfixturevalue("mnist" if script == "mnist_small" else "gan")
    parts = split_sections(trace)
    graph = check_graph(trace, trace.graph(show_ops=show_ops).source, what=f"{script} show_ops={show_ops}")
    sections = [name for name in graph.labels if name.startswith("cluster_section_")]
    labels = [graph.labels[name] for name in sections]
    # One cluster per model, most parameters first, as the report's title names them; the transforms last.
    assert labels == [f"{s.model.type} · {s.num_params:,} params" for s in parts.models] + [
        "data transforms (in the DataLoader)"
    ]
    for position, section in enumerate(parts.models):
        nodes = _model_nodes(trace, graph, section)
        assert nodes, section.model.type
        assert {_section_of(graph, node) for node in nodes} == {f"cluster_section_{position}"}
    # Each transform: one node, labelled as the table's row, in the last cluster; its own ops are inside it.
    transform_nodes = {n: label for n, label in graph.nodes.items() if "(data transform)" in label}
    assert sorted(transform_nodes.values()) == sorted(f"{t.label} (data transform)" for t in parts.transforms)
    assert all(t.count > 1 for t in parts.transforms)  # a real fold: it ran once per image
    assert {_section_of(graph, n) for n in transform_nodes} == {sections[-1]}
    folded = {call.id for t in parts.transforms for root in t.calls for call in _walk(root)}
    drawn = {int(n[1:]) for n in graph.nodes if n[0] == "c" and n[1:].isdigit()}
    assert drawn & folded == {t.calls[0].id for t in parts.transforms}
    # Nothing of the model's sections is drawn at the top level, outside every section.
    assert all(_section_of(graph, node) for node in graph.nodes if node[0] == "c")


def test_the_graph_is_named_after_the_report_model(mnist, gan) -> None:
    assert mnist.graph().source.startswith("digraph Net {")  # not Normalize, which ran first
    assert gan.graph().source.startswith("digraph Generator {")  # most parameters, though it ran second


def test_a_single_model_trace_has_no_section_cluster() -> None:
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 4))
    graph = check_graph(t, t.graph().source)
    assert not [name for name in graph.labels if name.startswith("cluster_section_")]


@pytest.mark.requires_dot
def test_the_sectioned_graph_renders_with_dot(gan, tmp_path) -> None:
    from shapetrace.render.graph.digraph import save_graph

    written = save_graph(gan.graph(), str(tmp_path / "gan.svg"))
    svg = Path(written).read_text()
    assert "Normalize ×12 (data transform)" in svg and "Discriminator · 848 params" in svg


@pytest.mark.slow
def test_a_neuralforecast_script_has_one_cluster_per_model() -> None:
    """The script the issue names ("shapetrace ConstantPad1d"): NeuralForecast
    fitting an LSTM and an NHITS through Lightning, then predicting."""
    pytest.importorskip("neuralforecast")
    with contextlib.redirect_stderr(io.StringIO()):
        trace = traced_real_script("nf_small")
    parts = split_sections(trace)
    assert [s.model.type for s in parts.models] == ["LSTM", "NHITS"]  # by parameters: 3,681 then 3,611
    for show_ops in (False, True):
        graph = check_graph(trace, trace.graph(show_ops=show_ops).source, what=f"nf show_ops={show_ops}")
        labels = [label for name, label in graph.labels.items() if name.startswith("cluster_section_")]
        assert labels == [f"{s.model.type} · {s.num_params:,} params" for s in parts.models]
        for position, section in enumerate(parts.models):
            nodes = _model_nodes(trace, graph, section)
            assert {_section_of(graph, node) for node in nodes} == {f"cluster_section_{position}"}
    assert trace.graph().source.startswith("digraph LSTM {")


@pytest.mark.parametrize("show_ops", [False, True])
def test_the_gan_losss_label_is_an_input_of_its_own(gan, show_ops) -> None:
    """``criterion(discriminator(x), label)``: the prediction and the label are both
    ``(6,)``; the label is drawn from the ``torch.full`` that made it (recorded under
    ``run`` as it made the loss's target: record/before_pass.py) into the loss, not as
    the prediction a second time."""
    graph = check_graph(gan, gan.graph(show_ops=show_ops).source, what=f"gan show_ops={show_ops}")
    losses = [node for node in graph.nodes if node[0] == "c" and node[1:].isdigit()
              and gan.calls[int(node[1:])].type == "BCELoss"]
    assert losses
    for node in losses:
        into = [(tail, label) for tail, head, label, _ in graph.edges if head == node]
        assert len(into) == 2, into
        (label_tail, label_text), = [(tail, label) for tail, label in into if "target" in label]
        assert "(6,)" in label_text
        if show_ops:  # the op that made it
            assert label_tail.startswith("c") and gan.calls[int(label_tail[1:])].name == "full"
        else:  # ops hidden: a graph input, not a call
            assert not label_tail.startswith("c"), graph.nodes[label_tail]
