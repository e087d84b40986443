"""The article's forecaster: every shape its comments give, on the right lines."""

from __future__ import annotations

import inspect

import pytest
import torch

import shapetrace
from demos import lstm_forecaster
from tests.models.core_models import article_model

SOURCE_FILE = inspect.getsourcefile(lstm_forecaster)


def line_of(text: str) -> int:
    """The line number of the demo line that contains ``text`` (once)."""
    with open(SOURCE_FILE, encoding="utf-8") as source:
        lines = [i for i, line in enumerate(source, 1) if text in line]
    assert len(lines) == 1, (text, lines)
    return lines[0]


@pytest.fixture(scope="module")
def seed_trace():
    model = article_model()
    x = torch.randn(5, 30)
    with shapetrace.trace(model) as t:
        model(x)
    return t


def test_module_calls_have_the_article_shapes(seed_trace):
    assert seed_trace.root.type == "LSTM"
    assert seed_trace.root.inputs[0].shape == (5, 30)
    assert seed_trace.root.outputs[0].shape == (5, 1)
    lstm = seed_trace["lstm"]
    assert [m.shape for m in lstm.inputs] == [(5, 30, 1), (5, 5, 64), (5, 5, 64)]
    assert [m.shape for m in lstm.outputs] == [(5, 30, 64), (5, 5, 64), (5, 5, 64)]
    assert seed_trace["linear"].inputs[0].shape == (150, 64)
    assert seed_trace["linear"].outputs[0].shape == (150, 1)


def test_tuple_outputs_have_paths(seed_trace):
    lstm = seed_trace["lstm"]
    assert [m.path for m in lstm.outputs] == ["0", "1.0", "1.1"]
    assert [m.path for m in lstm.inputs] == ["0", "1.0", "1.1"]
    assert lstm.output_at("1.0").shape == (5, 5, 64)


def test_ops_in_order_with_their_shapes(seed_trace):
    ops = [(c.name, c.outputs[0].shape) for c in seed_trace.ops]
    assert ops == [
        ("randn", (5, 5, 64)), ("to", (5, 5, 64)),
        ("randn", (5, 5, 64)), ("to", (5, 5, 64)),
        ("view", (5, 30, 1)),
        ("contiguous", (5, 30, 64)), ("view", (150, 64)),
        ("view", (5, 30, 1)),
        ("__getitem__", (5, 1)),
    ]


def test_bookkeeping_is_not_recorded(seed_trace):
    # input_seq.shape[1] reads metadata: not a step of the computation
    names = {c.name for c in seed_trace.ops}
    assert not names & {"shape", "size", "dim", "__get__"}


def test_calls_point_at_the_user_lines(seed_trace):
    view_in = seed_trace.ops[4]
    assert view_in.location.filename == SOURCE_FILE
    assert view_in.location.lineno == line_of("input_seq = input_seq.view(self.batch_size, seq_len, 1)")
    assert view_in.location.code.startswith("input_seq = input_seq.view(")
    assert view_in.location.function == "forward"
    assert seed_trace["lstm"].location.lineno == line_of("output, _ = self.lstm(input_seq, (h_0, c_0))")
    assert seed_trace["linear"].location.lineno == line_of("pred = self.linear(output)")
    flatten = seed_trace.ops[6]
    assert flatten.location.lineno == line_of("output = output.contiguous().view(")
    assert seed_trace.ops[-1].location.lineno == line_of("pred = pred[:, -1, :]")


def test_tree_links(seed_trace):
    root = seed_trace.root
    assert root.parent is None and root.depth == 0
    assert [c.name for c in root.children if c.kind == "module"] == ["lstm", "linear"]
    assert all(c.parent is root and c.depth == 1 for c in root.children)
    assert list(root.walk()) == list(seed_trace.calls)


def test_op_arguments_are_summarised(seed_trace):
    view = seed_trace.ops[4]
    assert view.type == "Tensor.view"
    assert view.args == ({"tensor": "0"}, 5, 30, 1)
    index = seed_trace.ops[-1]
    assert index.args[1] == ({"slice": (None, None, None)}, -1, {"slice": (None, None, None)})


def test_module_config_and_params(seed_trace):
    lstm = seed_trace["lstm"]
    assert lstm.config["batch_first"] is True
    assert lstm.config["hidden_size"] == 64 and lstm.config["num_layers"] == 5
    assert seed_trace["linear"].params == 64 + 1
    assert seed_trace.root.params == sum(p.numel() for p in article_model().parameters())


def test_batch_first_lstm_output_is_non_contiguous(seed_trace):
    output = seed_trace["lstm"].outputs[0]
    assert output.contiguous is False
    assert output.stride != (30 * 64, 64, 1)
    assert seed_trace.ops[5].outputs[0].contiguous is True  # after .contiguous()


def test_metadata_fields(seed_trace):
    out = seed_trace["linear"].outputs[0]
    assert out.dtype is torch.float32
    assert out.device == "cpu"
    assert out.requires_grad is True
    assert out.nbytes == 150 * 4
    assert out.stride == (1, 1)
