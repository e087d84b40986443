"""``shapetrace.assert_shapes`` on the article's forecaster and a nested model."""

from __future__ import annotations

import pytest
import torch

import shapetrace
from shapetrace.errors import UnknownCallError
from shapetrace.testing.assertions import UnknownTensorError
from shapetrace.testing.spec import SpecSyntaxError
from tests.models.core_models import Nested, article_model

SEED_SPEC = {
    "lstm": {"in": "B T 1", "out": "B T 64", "h_n": "L B 64", "c_n": "L B 64"},
    "linear": "(B*T) 1",
    "": "B 1",
}


@pytest.fixture(scope="module")
def seed_trace():
    model = article_model()
    with shapetrace.trace(model) as t:
        model(torch.randn(5, 30))
    return t


@pytest.fixture(scope="module")
def nested_trace():
    model = Nested()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 2, 2))
    return t


def test_a_matching_spec_returns_the_bindings(seed_trace):
    assert shapetrace.assert_shapes(seed_trace, SEED_SPEC) == {"B": 5, "T": 30, "L": 5}


def test_a_loaded_trace_asserts_like_a_live_one(seed_trace):
    loaded = shapetrace.load(seed_trace.to_json())
    assert shapetrace.assert_shapes(loaded, SEED_SPEC) == {"B": 5, "T": 30, "L": 5}


@pytest.mark.parametrize("spec", [
    {"lstm": (5, 30, 64)},
    {"lstm": {"output": "5 30 64", "1.0": "5 5 64", "1.1": (5, 5, 64)}},
    {"lstm": {"input": "B T 1", "h_0": "L B H", "c_0": "L B H", "h_n": "L B H"}},
    {"lstm": {"0": "... 64"}},  # a path names an output first
    {"linear": {"in": "(B*T) 64", "out": "(B*T) 1"}, "lstm": "B T *"},  # B and T bound after the product
])
def test_tensor_keys(seed_trace, spec):
    shapetrace.assert_shapes(seed_trace, spec)


def test_a_call_checks_its_own_tensors(seed_trace):
    bindings = shapetrace.assert_shapes(seed_trace["lstm"], {"": "B T 64", "h_n": "L B 64", "in": "B T 1"})
    assert bindings == {"B": 5, "T": 30, "L": 5}


def test_a_call_checks_its_children_by_relative_name(nested_trace):
    blocks = nested_trace["blocks"]
    assert shapetrace.assert_shapes(blocks, {"0.fc": "B 4", "1": {"in": "B F"}}) == {"B": 3, "F": 4}
    assert shapetrace.assert_shapes(nested_trace.root, {"blocks.1.fc": "3 4"}) == {}


def _failure(trace, spec) -> str:
    with pytest.raises(AssertionError) as failure:
        shapetrace.assert_shapes(trace, spec)
    return str(failure.value)


def test_failure_lists_every_checked_tensor_and_marks_the_first_mismatch(seed_trace):
    message = _failure(seed_trace, {"lstm": "B T 64", "linear": "(B*T) 2", "": "T 1"})
    lines = message.splitlines()
    assert lines[0] == "shapes do not match the spec: linear dim 1: expected 2, got 1"
    rows = {line.split()[1] if line.startswith(">") else line.split()[0]: line for line in lines[2:-1]
            if not line.startswith("─")}
    assert rows["lstm"].split() == ["lstm", "(B,", "T,", "64)", "(5,", "30,", "64)", "ok"]
    assert rows["linear"].startswith(">")
    assert rows["linear"].split()[1:] == ["linear", "(B*T,", "2)", "(150,", "1)",
                                          "dim", "1:", "expected", "2,", "got", "1"]
    assert not rows["(root)"].startswith(">")
    assert rows["(root)"].endswith("dim 0: expected T=30, got 5")
    assert lines[-1] == "bindings: B=5, T=30"


def test_failure_names_the_tensor_of_a_dict_spec(seed_trace):
    message = _failure(seed_trace, {"lstm": {"h_n": "L B 32"}})
    assert message.splitlines()[0] == "shapes do not match the spec: lstm h_n dim 2: expected 32, got 64"
    assert message.splitlines()[-1] == "bindings: (none)"


def test_failures_under_a_call_use_full_names(seed_trace, nested_trace):
    message = _failure(seed_trace["lstm"], {"h_n": "L B 32"})
    assert message.splitlines()[0] == "shapes do not match the spec: lstm h_n dim 2: expected 32, got 64"
    message = _failure(nested_trace["blocks"], {"0.fc": "B 5"})
    assert message.splitlines()[0] == "shapes do not match the spec: blocks.0.fc dim 1: expected 5, got 4"


def test_unsolvable_products_fail_with_a_reason(seed_trace):
    message = _failure(seed_trace, {"linear": "(B*T) 1"})
    assert "cannot tell B and T apart in (B*T) = 150" in message.splitlines()[0]


_TRACE_ERRORS = [
    ("trace", {"lstn": "B T 64"}, UnknownCallError, r"no module call named 'lstn' in this trace; did you mean 'lstm'"),
    ("trace", {"lstm": {"h_m": "L B 64"}}, UnknownTensorError,
     r"no tensor 'h_m' in call 'lstm' \(LSTM\); did you mean 'h_n', 'h_0'"),
    ("trace", {"linear": {"bias": "1"}}, UnknownTensorError,
     r"no tensor 'bias' in call 'linear' \(Linear\); it has out, in, 0"),
    ("lstm", {"h_m": "L B 64"}, UnknownTensorError,
     r"no tensor or child module 'h_m' in call 'lstm' \(LSTM\); did you mean 'h_n', 'h_0'"),
    ("root", {"linaer": "B 1"}, UnknownTensorError,
     r"no tensor or child module 'linaer' in the root call \(LSTM\); did you mean 'linear'"),
    ("trace", {"lstm": "B T 6-4"}, SpecSyntaxError, r"bad token '6-4' at position 4 of shape spec 'B T 6-4'"),
    ("trace", ["lstm"], shapetrace.ShapetraceError, r"takes a dict from module names to shape specs, not list"),
    ("meta", {"lstm": "B"}, shapetrace.ShapetraceError, r"takes a Trace or a Call, not TensorMeta"),
]


@pytest.mark.parametrize(("target", "spec", "error", "match"), _TRACE_ERRORS)
def test_usage_errors(seed_trace, target, spec, error, match):
    targets = {"trace": seed_trace, "lstm": seed_trace["lstm"], "root": seed_trace.root,
               "meta": seed_trace["lstm"].outputs[0]}
    with pytest.raises(error, match=match):
        shapetrace.assert_shapes(targets[target], spec)


def test_usage_errors_come_before_any_check(seed_trace):
    # The first entry would fail; the unknown name still wins, being a mistake in the test.
    with pytest.raises(UnknownCallError):
        shapetrace.assert_shapes(seed_trace, {"lstm": "1", "nope": "1"})


def test_pytest_shows_the_callers_line(pytester):
    pytester.makepyfile("""
        import torch
        from torch import nn
        import shapetrace

        def test_linear():
            model = nn.Linear(4, 2)
            with shapetrace.trace(model) as t:
                model(torch.randn(3, 4))
            shapetrace.assert_shapes(t, {"": "B 3"})
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        '>       shapetrace.assert_shapes(t, {"": "B 3"})',
        "E       AssertionError: shapes do not match the spec: (root) dim 1: expected 3, got 2",
    ])
    assert "assertions.py" not in result.stdout.str()
