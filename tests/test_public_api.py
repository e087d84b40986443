"""The public API documents itself: explicit parameters, each in the docstring,
and one validation path that names the parameter."""

from __future__ import annotations

import inspect
import io

import pytest
import rich.console

import shapetrace
from shapetrace.testing.pytest_plugin import ShapetraceFixture
from tests.render_support import forecaster_trace

PUBLIC_CALLABLES = [
    shapetrace.trace, shapetrace.load, shapetrace.vary, shapetrace.assert_shapes,
    shapetrace.Trace.calls_of, shapetrace.Trace.table, shapetrace.Trace.print, shapetrace.Trace.annotate,
    shapetrace.Trace.graph, shapetrace.Trace.tree, shapetrace.Trace.to_json, shapetrace.Trace.assert_snapshot,
    ShapetraceFixture.__call__,
]


@pytest.fixture(scope="module")
def t():
    return forecaster_trace()


@pytest.mark.parametrize("function", PUBLIC_CALLABLES, ids=lambda f: f.__qualname__)
def test_help_lists_every_parameter(function):
    signature = inspect.signature(function)
    doc = inspect.getdoc(function) or ""
    for name, parameter in signature.parameters.items():
        if name == "self":
            continue
        # **sizes of vary() are the dims' names: the one deliberate catch-all.
        assert parameter.kind is not parameter.VAR_KEYWORD or function is shapetrace.vary, (
            f"{function.__qualname__} takes **{name}: help() cannot list its options")
        assert name in doc, f"the docstring of {function.__qualname__} does not explain {name!r}"
    assert ">>>" in doc or "::" in doc, f"{function.__qualname__} has no example"


@pytest.mark.parametrize("call, message", [
    (lambda t: t.graph(depth=-1), r"Trace.graph\(\): depth is None .* or an int >= 0 .*, not -1"),
    (lambda t: t.graph(rankdir="up"), r"Trace.graph\(\): rankdir is one of 'TB', 'LR', 'BT', 'RL', not 'up'"),
    (lambda t: t.graph(ops="yes"), r"Trace.graph\(\): ops is True or False, not 'yes'"),
    (lambda t: t.tree(collapse=None), r"Trace.tree\(\): collapse is True or False, not None"),
    (lambda t: t.tree(depth=1.5), r"Trace.tree\(\): depth .*, not 1.5"),
    (lambda t: t.annotate(max_column=-3), r"Trace.annotate\(\): max_column is an int >= 0, not -3"),
    (lambda t: t.annotate(verbose=1), r"Trace.annotate\(\): verbose is True or False, not 1"),
    (lambda t: t.table(ops=0), r"Trace.table\(\): ops is True or False, not 0"),
    (lambda t: t.to_json(indent="2"), r"Trace.to_json\(\): indent is an int >= 0, not '2'"),
])
def test_a_bad_value_names_the_parameter(t, call, message):
    with pytest.raises(shapetrace.ShapetraceError, match=message):
        call(t)


def test_a_misspelt_option_names_the_public_method(t):
    with pytest.raises(TypeError, match=r"graph\(\) got an unexpected keyword argument 'dept'"):
        t.graph(dept=2)


def test_rich_print_shows_the_table_and_findings(t):
    console = rich.console.Console(file=io.StringIO(), width=160, no_color=True)
    console.print(t)
    text = console.file.getvalue()
    assert "lstm" in text and "(150, 64)" in text and "ST003 hardcoded-batch-size" in text
    assert text.startswith("shapetrace LSTM: ")
