"""Issue 18: graphs that never lie, loops that roll up in every view."""

from __future__ import annotations

import re

import pytest
import torch

import shapetrace
from shapetrace.errors import GraphTooLargeError
from shapetrace.render.graph.size import layout_size
from shapetrace.render.source.annotate import annotate
from tests.models.graph_models import ResidualBlocks, TimeSequence, TinyGPT2, nn_transformer
from tests.models.render_models import Loops, Stack, transformer
from tests.render_support import plain_text, trace_of

NODE = re.compile(r"^\t+(?!node |edge )(\w+) \[", re.MULTILINE)
EDGE = re.compile(r'^\t+(\w+) -> (\w+) \[label="([^"]*)"([^\]]*)\]', re.MULTILINE)


def declared(source: str) -> set[str]:
    return set(NODE.findall(source))


def graph_edges(source: str) -> list[tuple[str, str, str, str]]:
    return EDGE.findall(source)


def assert_no_dangling(source: str) -> None:
    """Every edge endpoint is a declared node; every declared node is on an edge."""
    nodes = declared(source)
    ends = {end for tail, head, _, _ in graph_edges(source) for end in (tail, head)}
    assert ends <= nodes, f"edges name undeclared nodes {sorted(ends - nodes)}"
    assert nodes <= ends, f"nodes on no edge {sorted(nodes - ends)}"


def time_sequence_trace(steps: int = 40, future: int = 5) -> shapetrace.Trace:
    torch.manual_seed(0)
    model = TimeSequence().double()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, steps, dtype=torch.float64), future=future)
    return t


MODELS = {
    "residual blocks": lambda: trace_of(ResidualBlocks(), torch.randn(2, 8)),
    "four blocks": lambda: trace_of(ResidualBlocks(blocks=4), torch.randn(2, 3, 8)),
    "stack": lambda: trace_of(Stack(), torch.randint(0, 10, (2, 3))),
    "encoder": lambda: trace_of(transformer(3), torch.randn(2, 10, 32)),
    "nn.Transformer": lambda: trace_of(nn_transformer(), torch.randn(2, 5, 16), torch.randn(2, 4, 16)),
    "gpt2-like": lambda: trace_of(TinyGPT2(), torch.randint(0, 50, (2, 6))),
    "time sequence": time_sequence_trace,
}


# ------------------------------------------------------------ dangling nodes
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("view", [{}, {"ops": True}, {"depth": 1}, {"depth": 2, "ops": True},
                                  {"collapse": False, "max_size": None}])
def test_every_edge_joins_declared_nodes(name, view):
    assert_no_dangling(MODELS[name]().graph(**view).source)


def test_siblings_folded_inside_a_folded_block_keep_their_edges():
    """blocks.0-1 ×2 holding a…b ×2: block 1's b is drawn as block 0's a."""
    t = MODELS["residual blocks"]()
    source = t.graph().source
    a = f"c{t['blocks.0.a'].id}"
    assert "a…b ×2" in source and f"c{t['blocks.1.b'].id}" not in source
    into_a = {tail: label for tail, head, label, _ in graph_edges(source) if head == a}
    assert set(into_a) == {"in_0_0", a}  # the input, and a into b: the fold's own chain
    assert "each into the next" in into_a[a]


def test_an_input_nothing_recorded_made_has_a_stub():
    """Traced with ops off, a tensor made between modules has no producer: the
    edge comes from a "not recorded" stub (or a link matched by shape, dashed)."""
    model = TinyGPT2()
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randint(0, 50, (2, 6)))
    source = t.graph().source
    assert_no_dangling(source)
    wpe = f"c{t['wpe'].id}"
    into_wpe = [(tail, label, attrs) for tail, head, label, attrs in graph_edges(source) if head == wpe]
    assert into_wpe and all(tail.startswith("u_") or "matched by shape" in label for tail, label, _ in into_wpe)
    assert all("dashed" in attrs for _, _, attrs in into_wpe)
    assert 'label="not recorded"' in source


def test_links_by_identity_are_drawn_solid():
    for view in ({}, {"ops": True}):
        source = MODELS["gpt2-like"]().graph(**view).source
        assert "matched by shape" not in source and "not recorded" not in source


# ----------------------------------------------------------------- loops
def test_a_loop_is_one_row_in_the_table():
    t = time_sequence_trace()
    text = plain_text(t.table(), width=200)
    assert re.search(r"lstm1: LSTMCell ×40 +\S+:\d+ +input \(3, 1\)", text)
    assert "lstm1: LSTMCell #41-45 ×5" in text
    assert "40 × (3, 1)" in text  # split's outputs
    assert "45 × (3, 1)" in text  # cat's inputs
    assert len(text.splitlines()) < 40
    assert text.count("lstm2: LSTMCell") == 2


def test_a_loop_is_one_entry_in_the_tree():
    text = plain_text(time_sequence_trace().tree(), width=100)
    assert "lstm1 ×40: LSTMCell" in text and "linear #41-45 ×5: Linear" in text
    assert len(text.splitlines()) < 30


def test_a_loop_is_one_node_in_the_graph_with_its_state_on_a_loop_edge():
    t = time_sequence_trace()
    for ops in (False, True):
        source = t.graph(ops=ops).source
        assert_no_dangling(source)
        assert len(declared(source)) < 20
        assert "lstm1 ×40\nLSTMCell" in source
        lstm1 = f"c{t['lstm1'].id}"
        loops = [label for tail, head, label, _ in graph_edges(source) if tail == head == lstm1]
        assert loops and "next step" in loops[0]


class LayerLoop(torch.nn.Module):
    """A loop over layers with an op between them, and layers of one type and shape
    called once each at one line outside any loop."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = torch.nn.Linear(4, 8)
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(3))
        self.fc1 = torch.nn.Linear(8, 8)
        self.fc2 = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.fc2(torch.tanh(self.fc1(x)))


def test_a_loop_over_layers_is_one_row_beside_its_ops():
    """``for layer in self.hidden: x = torch.relu(layer(x))`` is read as it is written,
    the layers in one entry and the op in one, in the table, the tree and the graph;
    ``fc2(tanh(fc1(x)))``, run once, stays as it ran."""
    t = trace_of(LayerLoop(), torch.randn(2, 4))
    names = [re.sub(r"\s{2,}.*", "", line.strip()) for line in plain_text(t.table(), width=200).splitlines()[3:]]
    start = names.index("└─ inp: Linear")
    assert names[start : start + 6] == [
        "└─ inp: Linear",
        "└─ hidden.0-2: Linear ×3",
        "└─ relu(T) ×3",
        "└─ fc1: Linear",
        "└─ tanh(T)",
        "└─ fc2: Linear",
    ], names
    tree = plain_text(t.tree(ops=True), width=100)
    assert "hidden.0-2 ×3: Linear" in tree and "relu(T) ×3" in tree and "fc1: Linear" in tree
    source = t.graph(ops=True).source
    assert_no_dangling(source)
    assert "hidden.0-2 ×3\nLinear" in source and "relu(T) ×3" in source
    layers, relu = f"c{t['hidden.0'].id}", f"c{t['hidden.0'].id + 1}"
    edges = {(tail, head) for tail, head, _, _ in graph_edges(source)}
    assert {(layers, relu), (relu, layers)} <= edges  # each layer's output into the next layer


def test_the_annotated_source_folds_a_long_list_of_tensors():
    text = annotate(time_sequence_trace())
    line = next(line for line in text.splitlines() if "input.split(1, dim=1)" in line)
    assert "40 × (3, 1) non-contig" in line and "1 (3, 1)" not in line


def test_a_loop_of_changing_shapes_is_not_folded():
    """Steps fold only with the same shapes: a growing cat stays one row a step."""
    t = trace_of(Loops(), torch.randn(4, 2))
    text = plain_text(t.table(), width=200)
    assert "fc: Linear ×7" in text
    assert text.count("cat(") == 2


def test_the_html_report_folds_the_loop():
    html = time_sequence_trace()._repr_html_()
    assert "×40" in html and html.count("LSTMCell") < 12


# ---------------------------------------------------------------- guard
def test_layout_size_counts_rank_crossings():
    assert layout_size([("a", "b"), ("b", "c")]) == 3
    assert layout_size([("a", "b"), ("b", "c"), ("a", "c")]) == 4
    assert layout_size([("a", "a")]) == 1


def test_a_graph_too_large_for_dot_is_refused_with_what_to_do():
    t = time_sequence_trace(steps=60, future=0)
    with pytest.raises(GraphTooLargeError, match=r"too large for dot .* pass depth=0") as raised:
        t.graph(ops=True, collapse=False)
    assert "\n" not in str(raised.value)
    assert len(t.graph(ops=True, collapse=False, max_size=None).source) > 0
    assert len(declared(t.graph(ops=True).source)) < 20  # folded, it fits


def test_the_command_draws_a_long_loop_folded(tmp_path):
    from shapetrace.cli.app import main

    script = tmp_path / "loop.py"
    script.write_text("import torch\nfrom torch import nn\n\nclass Steps(nn.Module):\n"
                      "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, 3)\n\n"
                      "    def forward(self, x):\n        outs = []\n        for i in range(300):\n"
                      "            outs.append(self.fc(x) * i)\n        return torch.stack(outs)\n\n"
                      "Steps()(torch.randn(2, 3))\n")
    assert main(["run", str(script), "--format", "dot", "-o", str(tmp_path / "g.dot")]) == 0
    source = (tmp_path / "g.dot").read_text()
    assert "×300" in source and len(declared(source)) < 10


# ------------------------------------------------------- names and labels
def test_graph_inputs_carry_the_forwards_parameter_names():
    def inputs(t):
        return sorted(re.findall(r"^\t+in_\w+ \[label=(\w+)", t.graph().source, re.MULTILINE))

    assert inputs(MODELS["nn.Transformer"]()) == ["src", "tgt"]
    assert inputs(MODELS["gpt2-like"]()) == ["input_ids"]
    assert inputs(MODELS["residual blocks"]()) == ["x"]


def test_a_collapsed_chain_is_labelled_at_both_ends():
    t = MODELS["gpt2-like"]()
    labels = {(tail, head): label for tail, head, label, _ in graph_edges(t.graph().source)}
    c_attn, c_proj = f"c{t['h.0.c_attn'].id}", f"c{t['h.0.c_proj'].id}"
    assert labels[(c_attn, c_proj)].startswith("(2, 6, 48) → (2, 6, 16)\nvia")


def test_a_mask_is_not_wired_into_the_next_module():
    """GPT-2's causal mask (arange, compare) only selects in masked_fill: no
    edge from it into c_proj with c_proj's input shape."""
    t = MODELS["gpt2-like"]()
    source = t.graph().source
    c_proj = f"c{t['h.0.c_proj'].id}"
    into = [tail for tail, head, _, _ in graph_edges(source) if head == c_proj]
    assert into == [f"c{t['h.0.c_attn'].id}"]
    assert source.count("arange") == 1  # the position ids' arange, into wpe
