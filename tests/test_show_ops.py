"""``ops`` has one meaning per place: ``trace(ops=)`` records, a view's
``show_ops=`` shows; ``ops=`` on a view is ``show_ops=``'s former name and
keeps working."""

from __future__ import annotations

import io
import re

import pytest

import shapetrace
from tests.render_support import forecaster_trace, plain_text


@pytest.fixture(scope="module")
def t():
    return forecaster_trace()


def _printed(t, **options) -> str:
    out = io.StringIO()
    t.print(file=out, **options)
    return out.getvalue()


VIEWS = {
    "table": lambda t, **o: plain_text(t.table(**o), width=160),
    "tree": lambda t, **o: plain_text(t.tree(**o), width=160),
    "graph": lambda t, **o: t.graph(**o).source,
    "print": _printed,
    "html": lambda t, **o: t.html(graph=False, **o),
}


@pytest.mark.parametrize("view", VIEWS)
def test_show_ops_decides_whether_ops_are_shown(t, view):
    render = VIEWS[view]
    shown, hidden = render(t, show_ops=True), render(t, show_ops=False)
    # The forecaster's `.contiguous().view(-1, 64)` between lstm and linear; a
    # graph's edge still names the hidden ops it went through (`via .view(...)`);
    # of the HTML page, the call table (its source section shows the code).
    if view == "html":
        shown, hidden = (text.split('id="calls"')[1].split("</section>")[0] for text in (shown, hidden))
    assert "view" in re.sub(r"via [^\"\n]*", "", shown)
    assert "view" not in re.sub(r"via [^\"\n]*", "", hidden)
    assert "lstm" in hidden and "linear" in hidden


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("value", [True, False])
def test_ops_is_the_former_name_of_show_ops(t, view, value):
    render = VIEWS[view]
    assert render(t, ops=value) == render(t, show_ops=value)


@pytest.mark.parametrize("view", VIEWS)
def test_the_two_names_at_once_disagreeing_is_an_error(t, view):
    with pytest.raises(shapetrace.ShapetraceError, match=r"pass show_ops= only \(ops= is its former name\)"):
        # Each view's non-default show_ops, with the alias as well.
        VIEWS[view](t, show_ops=view in ("graph", "tree"), ops=True)  # html, print, table: True


@pytest.mark.parametrize("view", VIEWS)
def test_a_bad_value_is_named_by_the_name_used(t, view):
    with pytest.raises(shapetrace.ShapetraceError, match=r"\(\): show_ops is True or False, not 'yes'"):
        VIEWS[view](t, show_ops="yes")
    with pytest.raises(shapetrace.ShapetraceError, match=r"\(\): ops is True or False, not 'yes'"):
        VIEWS[view](t, ops="yes")


def test_recording_ops_is_a_different_setting_from_showing_them():
    model_trace = forecaster_trace()
    assert model_trace.ops_setting is True and model_trace.ops  # recorded
    hidden = plain_text(model_trace.table(show_ops=False), width=160)
    assert model_trace.ops and "view" not in hidden  # still recorded, only not shown


def test_the_command_help_says_which_option_is_which(capsys):
    from shapetrace.cli.app import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # the help wraps at the terminal's width
    assert "--no-ops show module calls only, like show_ops=False in Python (display only" in out
    assert "--no-op-recording record module calls only, like trace(ops=False) in Python" in out
    assert "the functional losses are still recorded" in out
    assert "fail-on in [tool.shapetrace] of pyproject.toml" in out  # not eaten as rich markup
