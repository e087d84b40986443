"""``Trace.tree``: module calls with their shapes, for narrow terminals."""

from __future__ import annotations

import pytest
import torch

import shapetrace
from shapetrace.cli.outputs import View, plan_outputs, write_outputs
from shapetrace.core.finding import Finding
from tests.models.render_models import Broken, transformer
from tests.render_support import (
    assert_golden,
    fixed_findings_at_repo,
    forecaster_trace,
    plain_text,
    silence_checks,
    trace_of,
)

_fixed_findings = pytest.fixture(autouse=True)(fixed_findings_at_repo)
seed = pytest.fixture(name="seed")(forecaster_trace)


def test_seed_tree_golden(seed):
    assert_golden("forecaster_tree.txt", plain_text(seed.tree(), width=60))


def test_module_calls_with_their_shapes(seed):
    text = plain_text(seed.tree(), width=100)
    assert "├── lstm: LSTM  150,272 params" in text
    assert "│   input (5, 30, 1), h_0 (5, 5, 64), c_0 (5, 5, 64) → output (5, 30, 64) non-contig" in text
    assert "└── linear: Linear  65 params\n    (150, 64) → (150, 1)" in text
    assert ".view(" not in text  # ops only when asked


def test_ops_when_asked(seed):
    text = plain_text(seed.tree(ops=True), width=100)
    assert "├── .view(150, 64)\n│   (5, 30, 64) → (150, 64)" in text


@pytest.mark.parametrize("width", [40, 60, 80])
def test_narrow_terminals_wrap_between_shapes_never_inside_one(seed, width):
    lines = plain_text(seed.tree(), width=width).splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    assert all(line.count("(") == line.count(")") for line in lines), lines
    assert sum(line.count("(5, 5, 64)") for line in lines) == 4  # h_0, c_0, h_n, c_n: all whole


def test_repeated_layers_fold_and_depth_cuts():
    t = trace_of(transformer(12), torch.randn(2, 10, 32))
    text = plain_text(t.tree(depth=2), width=80)
    assert "└── layers.0-11 ×12: TransformerEncoderLayer  8,544 params" in text
    assert text.count("self_attn: MultiheadAttention") == 1
    assert "self_attn" not in plain_text(t.tree(depth=1), width=80)
    assert plain_text(t.tree(depth=2, collapse=False), width=80).count("self_attn") == 12


def test_a_failed_call_shows_its_error():
    model = Broken()
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(4, 5))
    text = plain_text(t.tree(ops=True), width=80)
    assert "└── .view(3, 7)\n    (4, 5) → ✗ RuntimeError" in text


def test_a_loaded_trace_gives_the_same_tree(seed):
    assert plain_text(shapetrace.load(seed.to_json()).tree()) == plain_text(seed.tree())


def test_the_command_writes_the_tree(seed, tmp_path):
    write_outputs(seed, plan_outputs(["tree"], str(tmp_path / "tree.txt")), View(ops=False))
    assert (tmp_path / "tree.txt").read_text() == plain_text(seed.tree(), width=100)


def test_a_finding_on_a_call_left_out_shows_on_its_parent(seed, monkeypatch):
    randn = next(c for c in seed.ops if c.name == "randn")
    silence_checks(monkeypatch, [Finding("ST003", "hardcoded-batch-size", "warning", "m",
                                         location=randn.location, call_id=randn.id)])
    assert plain_text(seed.tree(), width=80).splitlines()[0] == "LSTM (root)  150,337 params  ST003"
    with_ops = plain_text(seed.tree(ops=True), width=80)
    assert "├── randn(5, 5, 64)  ST003" in with_ops
    assert with_ops.splitlines()[0] == "LSTM (root)  150,337 params"
