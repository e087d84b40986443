"""The notebook view (``Trace._repr_html_``): the HTML report of ``t.html()``
as a fragment a notebook shows in a cell (its style sheet scoped to the
fragment, its element ids made unique to it), and the graph as inline SVG
where the ``dot`` program exists."""

from __future__ import annotations

import re
import shutil
import uuid

from shapetrace.core.trace import Trace
from shapetrace.render.html_report import STYLE, report_body

# The selectors of the report's style sheet (plain rules: no at-rules, no nesting).
_SELECTORS = re.compile(r"([^{}]+)\{")
# Where the report names an element: its ids, and the links to them.
_IDS = re.compile(r'\b(id="|href="#)')


def trace_html(trace: Trace, *, graph: bool = True) -> str:
    """The report of ``Trace.html()`` as one ``<div class="shapetrace">``: the
    header, the call table, the findings, the annotated source and the graph
    (one line saying it needs Graphviz where ``dot`` is missing).

    The page's style sheet applies inside the ``<div>`` only, so the notebook
    around it keeps its look; every id (and every link to one) gains a prefix
    of its own, so two reports in one notebook link each within itself.
    """
    scope = f"shapetrace-{uuid.uuid4().hex[:8]}"
    body = _IDS.sub(lambda match: f"{match.group(1)}{scope}-", report_body(trace, graph=graph))
    return f'<div class="shapetrace" id="{scope}"><style>{_scoped(STYLE, f"#{scope}")}</style>{body}</div>'


def _scoped(style: str, scope: str) -> str:
    """``style`` with each rule applying under ``scope`` only (``body`` becomes ``scope``)."""

    def prefix(match: re.Match[str]) -> str:
        selectors = [selector.strip() for selector in match.group(1).split(",")]
        return ", ".join(scope if s == "body" else f"{scope} {s}" for s in selectors) + " {"

    return _SELECTORS.sub(prefix, style)


def graph_svg(trace: Trace) -> str | None:
    """The graph as an ``<svg>`` element, None without ``dot``.
    Raises ``GraphTooLargeError`` for a graph ``dot`` would take minutes over."""
    if shutil.which("dot") is None:
        return None
    import graphviz

    try:
        svg = trace.graph().pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return None
    return svg[svg.find("<svg") :]  # drop the XML prolog and doctype: it sits inside HTML
