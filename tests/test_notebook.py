"""A real notebook (issue 19): executed by nbclient on an IPython kernel, the
way Jupyter runs it. Skipped where Jupyter's packages are missing; CI installs
them (the test extra) and sets SHAPETRACE_REQUIRE_JUPYTER=1, which turns the
skip into a failure."""

from __future__ import annotations

import os
import re
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _jupyter():
    try:
        import nbclient
        import nbformat
    except ImportError as missing:
        if os.environ.get("SHAPETRACE_REQUIRE_JUPYTER") == "1":
            pytest.fail(f"Jupyter is missing and SHAPETRACE_REQUIRE_JUPYTER=1 requires it: {missing}")
        pytest.skip(f"needs nbclient, nbformat and ipykernel: {missing}")
    return nbclient, nbformat


CELLS = [
    "import torch\nimport shapetrace\n\n"
    "class Net(torch.nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = torch.nn.Linear(4, 2)\n\n"
    "    def forward(self, x):\n"
    "        return self.fc(x.view(3, 4))\n",
    "model = Net()\nwith shapetrace.trace(model) as t:\n    model(torch.randn(3, 4))\nt",
    "t.annotate()",
]


@pytest.fixture(scope="module")
def executed():
    nbclient, nbformat = _jupyter()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    saved = dict(os.environ)
    os.environ.update(environment)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_a_trace_as_a_cells_value_is_shown_once(executed):
    outputs = executed.cells[1].outputs
    assert [output["output_type"] for output in outputs] == ["execute_result"], outputs
    text = _text(outputs[0]["data"]["text/html"])
    assert text.count("shapetrace Net: ") == 1
    assert "(3, 2)" in text


def test_the_cell_shows_the_html_report(executed):
    """The same report as ``t.html()``: its sections, in a ``<div>`` (no document)."""
    html = executed.cells[1].outputs[0]["data"]["text/html"]
    assert html.startswith('<div class="shapetrace" id="shapetrace-') and "<body" not in html
    assert re.findall(r'<section id="shapetrace-\w+-(\w+)"', html)[:3] == ["calls", "findings", "source"]


def test_cell_lines_read_in_brackets_line(executed):
    text = _text(executed.cells[1].outputs[0]["data"]["text/html"])
    assert "In [1], line 10" in text  # the view in forward, defined in the first cell
    assert "In [2], line 3" in text  # the model's call
    assert "ipykernel" not in text


def test_annotate_shows_the_code(executed):
    text = executed.cells[2].outputs[0]["data"]["text/plain"]
    assert text.startswith("# Net.forward")
    assert "\n        return self.fc(x.view(3, 4))  # (3, 2)" in text


def test_without_dot_the_html_says_in_one_line_that_the_graph_needs_graphviz(monkeypatch):
    import torch

    import shapetrace
    from shapetrace.render.html import trace_html

    monkeypatch.setattr("shapetrace.render.html.shutil.which", lambda name: None)
    model = torch.nn.Linear(4, 2)
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    html = trace_html(t)
    assert "<svg" not in html
    assert html.count("The graph needs Graphviz's dot program") == 1


def test_annotate_returns_the_code_as_its_repr():
    import torch

    import shapetrace

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    model = Net()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
    annotated = t.annotate()
    assert repr(annotated) == str(annotated) and "\n" in repr(annotated)
    assert isinstance(annotated, str)
