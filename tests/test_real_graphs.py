"""The graphs of real models never lie (issue 18, item 1), checked on the real
zoo (tests/models/real_models.py: Hugging Face GPT-2, BERT, T5, Llama, Mistral,
Whisper, wav2vec2, ViT, ConvNeXt, Swin; neuralforecast LSTM/NHITS/TFT;
nn.Transformer), each traced with ops on and with ops off, its graph drawn
with ops shown and hidden at several depths, the DOT read back with a parser
(tests/graph_check.py). Skips without the model's library."""

from __future__ import annotations

import warnings

import pytest
import torch

import shapetrace
from tests.graph_check import check_graph
from tests.models.real_models import ZOO, RealModel, build

VIEWS = [
    {},
    {"ops": True},
    {"depth": 1},
    {"depth": 2},
    {"depth": 3, "ops": True},
    {"collapse": False},
]


def _params() -> list:
    marks = {True: [pytest.mark.slow], False: []}
    return [pytest.param(entry, id=entry.name, marks=marks[entry.slow]) for entry in ZOO]


@pytest.mark.parametrize("recorded_ops", [True, False], ids=["ops", "no-ops"])
@pytest.mark.parametrize("entry", _params())
def test_real_model_graph_has_no_dangling_node(entry: RealModel, recorded_ops: bool) -> None:
    model, run = build(entry)
    torch.manual_seed(1)
    with torch.no_grad(), warnings.catch_warnings(), shapetrace.trace(model, ops=recorded_ops) as t:
        warnings.simplefilter("ignore")
        run(model)
    assert t.error is None
    for view in VIEWS:
        source = t.graph(max_size=None, **view).source
        check_graph(t, source, what=f"{entry.name} ops={recorded_ops} {view}")


# -- the two lies the zoo found, in small: each fails without its fix -------------------------
class _Positions(torch.nn.Module):
    """BERT's embeddings: position ids sliced and expanded from a buffer, then embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("position_ids", torch.arange(16).expand((1, -1)), persistent=False)
        self.position_embeddings = torch.nn.Embedding(16, 8)
        self.word_embeddings = torch.nn.Embedding(50, 8)

    def forward(self, input_ids):
        positions = self.position_ids[:, : input_ids.shape[1]].expand(input_ids.shape[0], -1)
        return self.word_embeddings(input_ids) + self.position_embeddings(positions)


class _Bias(torch.nn.Module):
    """Swin's relative position bias: a module called without inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(2, 4, 4))

    def forward(self):
        return self.table.unsqueeze(0)


class _Attention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.bias = torch.nn.Linear(4, 4), _Bias()

    def forward(self, x):
        scores = self.q(x).unsqueeze(1) @ x.unsqueeze(1).transpose(-1, -2)
        return (scores + self.bias()).softmax(-1) @ x.unsqueeze(1)


def test_a_tensor_made_from_a_buffer_has_a_not_recorded_stub_above_it() -> None:
    model = _Positions()
    with shapetrace.trace(model) as t:
        model(torch.randint(0, 50, (2, 7)))
    graph = check_graph(t, t.graph().source, what="positions")
    # Drawn as where the position ids were made: the slice of the buffer (nothing recorded made it).
    made = next(call for call in t.calls if call.name == "__getitem__")
    assert graph.nodes[f"c{made.id}"] == "[:, :7]"
    into = [(graph.nodes[tail], label) for tail, head, label, _ in graph.edges if head == f"c{made.id}"]
    assert into == [("not recorded", "(1, 16)")]


def test_a_module_without_inputs_is_not_left_floating() -> None:
    model = _Attention()
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randn(2, 4, 4))
    graph = check_graph(t, t.graph().source, what="bias")
    bias = f"c{t['bias'].id}"
    out = [(head, label) for tail, head, label, attrs in graph.edges if tail == bias and "ltail" not in attrs]
    assert [(graph.nodes[head], label) for head, label in out] == [("not recorded", "(1, 2, 4, 4)")]
