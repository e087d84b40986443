"""Shape-spec strings: parsing, errors, and matching with bindings."""

from __future__ import annotations

import pytest

from shapetrace import ShapetraceError
from shapetrace.testing.spec import (
    AnyDim,
    Fixed,
    Named,
    Product,
    Rest,
    SpecSyntaxError,
    match_all,
    match_shape,
    parse_spec,
)


@pytest.mark.parametrize(("text", "dims"), [
    ("5 30 64", (Fixed(5), Fixed(30), Fixed(64))),
    ("B T 64", (Named("B"), Named("T"), Fixed(64))),
    ("* hidden_2", (AnyDim(), Named("hidden_2"))),
    ("... 64", (Rest(), Fixed(64))),
    ("(B*T) 1", (Product(("B", "T")), Fixed(1))),
    ("(B * T * 2)", (Product(("B", "T", 2)),)),
    ("  B\tT  ", (Named("B"), Named("T"))),
    ("", ()),
])
def test_parse(text, dims):
    assert parse_spec(text).dims == dims


def test_tuple_of_ints_is_a_spec():
    assert parse_spec((5, 30, 64)).dims == (Fixed(5), Fixed(30), Fixed(64))
    assert parse_spec(()).dims == ()


@pytest.mark.parametrize(("spec", "match"), [
    ("B T-1", r"bad token 'T-1' at position 2 .*a dim is an int, a name"),
    ("B 3x", r"bad token '3x' at position 2"),
    ("B -1", r"bad token '-1' at position 2"),
    ("B (B*T", r"bad token '\(B\*T' at position 2 .*unbalanced parenthesis"),
    ("B) T", r"bad token 'B\)' at position 0"),
    ("(B*) 1", r"bad token '\(B\*\)' at position 0 .*a product multiplies ints and names"),
    ("() 1", r"bad token '\(\)' at position 0"),
    ("(B*...)", r"bad token '\(B\*\.\.\.\)' at position 0"),
    ("... B ...", r"bad token '\.\.\.' at position 6 .*'\.\.\.' may appear only once"),
    ((5, -1), r"bad token '-1' at position 1 .*ints >= 0"),
    ((5, "30"), r"bad token \"'30'\" at position 1"),
    ((5, True), r"bad token 'True' at position 1"),
])
def test_parse_errors_name_the_token_and_its_position(spec, match):
    with pytest.raises(SpecSyntaxError, match=match):
        parse_spec(spec)


def test_a_spec_of_another_type_is_a_shapetrace_error():
    with pytest.raises(ShapetraceError, match="not float"):
        parse_spec(3.5)


@pytest.mark.parametrize(("spec", "shape", "bindings"), [
    ("5 30 64", (5, 30, 64), {}),
    ("B T 64", (5, 30, 64), {"B": 5, "T": 30}),
    ("B B", (4, 4), {"B": 4}),
    ("* * 64", (5, 30, 64), {}),
    ("... 64", (64,), {}),
    ("... 64", (2, 5, 30, 64), {}),
    ("B ...", (5, 30, 64), {"B": 5}),
    ("B ... H", (5, 1, 2, 3, 64), {"B": 5, "H": 64}),
    ("B T (B*T)", (5, 30, 150), {"B": 5, "T": 30}),
    ("(B*T) B", (150, 5), {"B": 5, "T": 30}),  # plain names bind first, then T is solved for
    ("(B*T*2) B T", (300, 5, 30), {"B": 5, "T": 30}),
    ("(2*3)", (6,), {}),
    ("(N*N)", (25,), {"N": 5}),
    ("", (), {}),
])
def test_match(spec, shape, bindings):
    result = match_shape(parse_spec(spec), shape)
    assert result.reason is None
    assert result.bindings == bindings


@pytest.mark.parametrize(("spec", "shape", "reason"), [
    ("B T 64", (5, 30, 32), "dim 2: expected 64, got 32"),
    ("B T 64", (5, 30), "expected 3 dims, got 2"),
    ("B B", (4, 5), "dim 1: expected B=4, got 5"),
    ("... 64 1", (64,), "expected at least 2 dims, got 1"),
    ("B ... 1", (5, 30, 64), "dim 2: expected 1, got 64"),
    ("B T (B*T)", (5, 30, 151), r"dim 2: expected (B*T) = 150, got 151"),
    ("(B*T) B", (151, 5), "dim 0: expected (B*T), got 151: no T fits with B=5"),
    ("", (5,), "expected 0 dims, got 1"),
])
def test_mismatch_reasons(spec, shape, reason):
    result = match_shape(parse_spec(spec), shape)
    assert not result.ok
    assert result.reason == reason


def test_earlier_bindings_are_required():
    assert match_shape(parse_spec("B 64"), (5, 64), {"B": 5}).ok
    assert match_shape(parse_spec("B 64"), (4, 64), {"B": 5}).reason == "dim 0: expected B=5, got 4"


def test_a_product_of_two_unknown_names_waits_for_them():
    result = match_shape(parse_spec("(B*T) 1"), (150, 1))
    assert result.pending and not result.ok
    assert result.reason == "dim 0: cannot tell B and T apart in (B*T) = 150"


def test_match_all_shares_names_and_retries_products():
    specs = [parse_spec("(B*T) 1"), parse_spec("B T 64"), parse_spec("B 1")]
    results, bindings = match_all(zip(specs, [(150, 1), (5, 30, 64), (5, 1)]))
    assert [r.ok for r in results] == [True, True, True]
    assert bindings == {"B": 5, "T": 30}


def test_match_all_checks_names_across_shapes():
    specs = [parse_spec("B T 64"), parse_spec("B 1"), parse_spec("(B*T) 1")]
    results, bindings = match_all(zip(specs, [(5, 30, 64), (4, 1), (151, 1)]))
    assert [r.reason for r in results] == [None, "dim 0: expected B=5, got 4",
                                           "dim 0: expected (B*T) = 150, got 151"]
    assert bindings == {"B": 5, "T": 30}


def test_a_failed_shape_binds_nothing():
    specs = [parse_spec("B 7"), parse_spec("B")]
    results, bindings = match_all(zip(specs, [(5, 8), (4,)]))
    assert [r.ok for r in results] == [False, True]
    assert bindings == {"B": 4}


def test_labels_print_like_a_symbolic_shape():
    assert parse_spec("(B*T) ... * 1").labels() == ["B*T", "...", "*", "1"]
