"""The notebook view (``Trace._repr_html_``): the report as HTML, and the
graph as inline SVG where the ``dot`` program exists."""

from __future__ import annotations

import html
import io
import shutil

from rich.console import Console

from shapetrace.core.trace import Trace
from shapetrace.errors import GraphTooLargeError
from shapetrace.render.report import report

# rich fills in {code}; inline styles need no stylesheet, so the other fields go unused.
_PRE = (
    "<pre style=\"font-family: Menlo, 'DejaVu Sans Mono', Consolas, monospace; font-size: 12px; "
    'line-height: 1.35; white-space: pre; overflow-x: auto">{code}</pre>'
)


def trace_html(trace: Trace, *, graph: bool = True, width: int = 140) -> str:
    """``<div>`` with the table and findings, then the graph's ``<svg>``."""
    # force_jupyter=False: inside a notebook rich would also display what it prints, a second report.
    console = Console(
        record=True, file=io.StringIO(), width=width, force_terminal=True, color_system="truecolor", force_jupyter=False
    )
    console.print(report(trace))
    parts = [console.export_html(inline_styles=True, code_format=_PRE)]
    if graph:
        try:
            svg = graph_svg(trace)
        except GraphTooLargeError as error:  # the report stands without the picture
            svg = f'<p style="font-family: sans-serif; font-size: 12px">graph not drawn: {html.escape(str(error))}</p>'
        if svg is not None:
            parts.append(svg)
        else:
            from shapetrace.render.graph.digraph import INSTALL_DOT

            parts.append(f'<p style="font-size: 12px">The graph needs Graphviz\'s dot program; {INSTALL_DOT}.</p>')
    return '<div class="shapetrace">' + "".join(parts) + "</div>"


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
