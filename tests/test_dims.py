"""Symbolic dimensions inferred by running a model at several sizes."""

from __future__ import annotations

import pytest
import torch

import shapetrace
from demos.bidirectional_forecaster import BiLSTM
from shapetrace import ShapetraceError
from shapetrace.analyze.symbolic import UNKNOWN, fit_dim, size_runs
from tests.models.core_models import article_model
from tests.models.varied_models import ConvStack, FixedArticleLSTM, Flattened, LengthBranch


def sym(meta):
    return meta.symbolic


@pytest.mark.parametrize("observed, expected", [
    ([8, 3, 8, 3], "B"),
    ([24, 24, 11, 11], "T"),
    ([64, 64, 64, 64], 64),
    ([192, 72, 88, 33], "B*T"),
    ([48, 48, 22, 22], "2*T"),
    ([22, 22, 9, 9], "T-2"),
    ([49, 49, 23, 23], "2*T+1"),
    ([9, 4, 9, 4], "B+1"),
    ([7, 9, 1, 30], UNKNOWN),
])
def test_fit_dim(observed, expected):
    runs = [{"B": 8, "T": 24}, {"B": 3, "T": 24}, {"B": 8, "T": 11}, {"B": 3, "T": 11}]
    assert fit_dim(list(zip(runs, observed))) == expected


def test_size_runs_move_one_name_then_all():
    assert size_runs({"B": (8, 3), "T": (24, 11)}) == [
        {"B": 8, "T": 24}, {"B": 3, "T": 24}, {"B": 8, "T": 11}, {"B": 3, "T": 11}]
    assert size_runs({"B": (8, 3, 1)}) == [{"B": 8}, {"B": 3}, {"B": 1}]


def test_bidirectional_multivariate_forecaster():
    t = shapetrace.vary(BiLSTM(), lambda B, T: torch.randn(B, T, 7), B=(8, 3), T=(24, 11))
    assert sym(t["lstm"].outputs[0]) == ("B", "T", 64)
    assert sym(t["lstm"].output_at("1.0")) == (4, "B", 32)
    assert sym(t["linear"].outputs[0]) == ("B", 4)
    assert t["lstm"].outputs[0].shape == (8, 24, 64)  # the base run's numbers stay
    assert t.meta["variation"]["unmatched"] == [] and t.meta["variation"]["failures"] == []


def test_fixed_article_model_merges_batch_and_time():
    t = shapetrace.vary(FixedArticleLSTM(), lambda B, T: (torch.randn(B, T),), B=(5, 3), T=(30, 12))
    assert sym(t["linear"].inputs[0]) == ("B*T", 16)
    assert sym(t["linear"].outputs[0]) == ("B*T", 1)
    views = [c for c in t.ops if c.name == "view"]
    assert [sym(v.outputs[0]) for v in views] == [("B", "T", 1), ("B*T", 16), ("B", "T", 1)]
    assert sym(t.root.outputs[0]) == ("B", 1)


def test_the_article_model_fails_at_another_batch_size():
    t = shapetrace.vary(article_model(), lambda B: torch.randn(B, 30), B=(5, 3))
    failures = t.meta["variation"]["failures"]
    assert len(failures) == 1
    assert failures[0]["sizes"] == {"B": 3}
    assert "invalid for input of size 90" in failures[0]["error"]
    view = t.calls[failures[0]["call_id"]]
    assert view.name == "view" and view.location.code.startswith("input_seq = input_seq.view(self.batch_size")
    assert t.error is None  # the base run succeeded


def test_conv_stack_gives_offset_expressions():
    t = shapetrace.vary(ConvStack(), lambda B, T: torch.randn(B, T, 7), B=(4, 2), T=(20, 13))
    assert sym(t["conv1"].outputs[0]) == ("B", 16, "T-2")
    assert sym(t["conv2"].outputs[0]) == ("B", 16, "T-4")


def test_products_of_non_batch_dims():
    t = shapetrace.vary(Flattened(steps=6, features=3), lambda B: torch.randn(B, 6, 3), B=(4, 2))
    assert sym(t["head"].inputs[0]) == ("B", 18)


def test_data_dependent_calls_are_reported():
    t = shapetrace.vary(LengthBranch(), lambda B, T: torch.randn(B, T, 4), B=(2, 3), T=(20, 8))
    unmatched = t.meta["variation"]["unmatched"]
    assert [u["call"] for u in unmatched] == ["extra"]
    assert unmatched[0]["missing_at"] == [{"B": 2, "T": 8}, {"B": 3, "T": 8}]
    assert t.calls[unmatched[0]["call_id"]].name == "extra"


def test_symbolic_shapes_render_and_round_trip():
    t = shapetrace.vary(BiLSTM(), lambda B, T: torch.randn(B, T, 7), B=(8, 3), T=(24, 11))
    loaded = shapetrace.load(t.to_json())
    assert sym(loaded["lstm"].outputs[0]) == ("B", "T", 64)
    assert loaded.meta["variation"] == t.meta["variation"]
    from rich.console import Console
    console = Console(width=200, record=True, color_system=None)
    console.print(t.table())
    text = console.export_text()
    assert "output (B, T, 64)" in text and "(B, 4)" in text


@pytest.mark.parametrize("sizes, message", [
    ({}, "at least one size"),
    ({"B": 5}, "two or more positive integer sizes"),
    ({"B": (5,)}, "two or more different sizes"),
    ({"B": (5, 5)}, "two or more different sizes"),
    ({"B": (5, -1)}, "positive integer"),
])
def test_bad_sizes(sizes, message):
    with pytest.raises(ShapetraceError, match=message):
        shapetrace.vary(BiLSTM(), lambda **s: torch.randn(2, 3, 7), **sizes)


def test_findings_from_variation():
    article = shapetrace.vary(article_model(), lambda B: torch.randn(B, 30), B=(5, 3))
    st003 = [f for f in article.findings if f.code == "ST003" and f.severity == "error"]
    assert len(st003) == 1
    assert "fits only B=5: at B=3 it raised RuntimeError" in st003[0].message
    assert article.calls[st003[0].call_id].name == "view"
    branch = shapetrace.vary(LengthBranch(), lambda B, T: torch.randn(B, T, 4), B=(2, 3), T=(20, 8))
    st011 = [f for f in branch.findings if f.code == "ST011"]
    assert len(st011) == 1 and st011[0].severity == "info"
    assert "extra (Linear)" in st011[0].message and "not at B=2, T=8; B=3, T=8" in st011[0].message
    assert shapetrace.load(branch.to_json()).findings == branch.findings
