"""The HTML report (``shapetrace run --format html``, ``Trace.html()``): one
self-contained page with the header, the call table, the findings, the
annotated source and the graph as inline SVG.

Nothing is loaded from elsewhere (no CDN, font or script): the style sheet is
inline and the graph is an ``<svg>`` element, so the file opens offline and
can be attached to a CI run. Every call row links to the line that made the
call; every finding to its line and its row. Text is escaped with
``html.escape``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from shapetrace.core.finding import Finding
from shapetrace.core.records import Call, Location
from shapetrace.core.text import device_label, dtype_label, format_count, format_location
from shapetrace.core.trace import Trace
from shapetrace.errors import GraphTooLargeError
from shapetrace.render.html_source import Anchors, source_section
from shapetrace.render.marks import NON_CONTIGUOUS
from shapetrace.render.passes import row_shapes
from shapetrace.render.report import closing_line, summary_line, title_text
from shapetrace.render.table import call_label, folded_transforms, row_location, table_rows, uniform

STYLE = """
body {
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto;
  max-width: 1400px;
  padding: 0 24px 48px;
  color: #1f2328;
  background: #fff;
}
h1 { font-size: 22px; margin: 20px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
details.listing > summary {
  font-size: 13px;
  font-weight: 600;
  cursor: pointer;
  margin: 14px 0 4px;
  font-family: ui-monospace, Menlo, "DejaVu Sans Mono", Consolas, monospace;
  color: #57606a;
}
code, pre, .mono, table.calls td {
  font-family: ui-monospace, Menlo, "DejaVu Sans Mono", Consolas, monospace;
  font-size: 12.5px;
}
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
.summary { margin: 2px 0; }
.info, .note { color: #57606a; font-size: 13px; margin: 2px 0; }
.ending { color: #cf222e; font-weight: 600; }
pre.error { color: #cf222e; background: #fff1f0; border: 1px solid #ffcecb; padding: 6px 10px; overflow-x: auto; }
nav { margin: 10px 0; font-size: 13px; }
nav a { margin-right: 14px; }
table.calls { border-collapse: collapse; width: auto; }
table.calls th {
  text-align: left;
  font-size: 12px;
  color: #57606a;
  border-bottom: 2px solid #d0d7de;
  padding: 4px 10px;
  white-space: nowrap;
  position: sticky;
  top: 0;
  background: #fff;
}
table.calls td { padding: 3px 10px; border-bottom: 1px solid #eaeef2; vertical-align: top; white-space: nowrap; }
table.calls tr.op td { color: #57606a; }
table.calls tr.op td.call { color: #0550ae; }
table.calls tr.flagged td { background: #fff8f0; }
table.calls tr:target td { background: #fff3b0; }
td.num { text-align: right; }
td.call b { font-weight: 600; }
.dim { color: #6e7781; }
.noncontig {
  font-size: 11px;
  color: #9a6700;
  background: #fff8c5;
  border-radius: 3px;
  padding: 0 3px;
  margin-left: 4px;
}
.badge { font-weight: 700; border-radius: 4px; padding: 1px 6px; color: #fff; font-size: 12px; }
.badge.error { background: #cf222e; }
.badge.warning { background: #bf8700; }
.badge.info { background: #0969da; }
a.code { font-weight: 700; color: #cf222e; }
.finding { border-left: 4px solid #bf8700; background: #f6f8fa; padding: 8px 12px; margin: 10px 0; }
.finding.error { border-color: #cf222e; }
.finding.info { border-color: #0969da; }
.finding:target { outline: 2px solid #0969da; }
.finding p { margin: 4px 0; }
.finding pre { margin: 4px 0; padding: 4px 8px; background: #fff; border: 1px solid #eaeef2; overflow-x: auto; }
.help b { color: #1a7f37; }
pre.code { background: #f6f8fa; border: 1px solid #eaeef2; padding: 8px 0; overflow-x: auto; line-height: 1.5; }
pre.code .ln { display: inline-block; min-width: 100%; box-sizing: border-box; padding-right: 12px; }
pre.code .ln:target { background: #fff3b0; }
pre.code .ln.flagged { background: #fff1f0; }
pre.code a.no {
  display: inline-block;
  width: 4em;
  padding-right: 12px;
  text-align: right;
  color: #8c959f;
  user-select: none;
}
.shapes { color: #1a7f37; font-weight: 600; }
.shapes a { color: #cf222e; }
.place { color: #8c959f; }
.k, .kn, .kc, .kd, .kr, .ow { color: #cf222e; }
.s, .s1, .s2, .sa, .sd, .si { color: #0a3069; }
.c, .c1, .cm { color: #6e7781; font-style: italic; }
.mi, .mf, .m { color: #0550ae; }
.nf, .nc { color: #8250df; }
.bp, .nb { color: #953800; }
.graph a:hover path { stroke-width: 2.5; }
.graph { overflow: auto; border: 1px solid #eaeef2; padding: 8px; }
.graph svg { max-width: 100%; height: auto; }
"""


def html_report(trace: Trace, *, ops: bool = True, depth: int | None = None, graph: bool = True) -> str:
    """The report as one HTML document (a str beginning ``<!DOCTYPE html>``).

    ``ops``/``depth`` choose the table's rows as for the terminal table;
    ``graph=False`` leaves the graph out (it needs Graphviz's ``dot``; without
    it the page says so in one line).
    """
    title = report_title(trace)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>shapetrace: {html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"{report_body(trace, ops=ops, depth=depth, graph=graph)}</body></html>\n"
    )


def report_title(trace: Trace) -> str:
    """What the page is titled after: the type of the largest top-level model
    (``Net (in DistributedDataParallel)`` for a wrapped one), else ``trace``."""
    return title_text(trace)


def report_body(trace: Trace, *, ops: bool = True, depth: int | None = None, graph: bool = True) -> str:
    """The page's content without the document around it: header, calls,
    findings, source and graph (``html_report``; the notebook view wraps it in
    a ``<div>`` with the style sheet scoped to it)."""
    findings = trace.findings
    finding_ids = [(finding, f"finding-{k + 1}") for k, finding in enumerate(findings)]
    rows = table_rows(trace, ops=ops, depth=depth)
    places: list[Location] = [run[0].location for run in rows if run[0].location is not None]
    places += [finding.location for finding in findings if finding.location is not None]
    source, anchors = source_section(trace, places, finding_ids)
    parts = [
        _header(trace, report_title(trace), len(findings), graph),
        _table(trace, rows, anchors, finding_ids, ops=ops, depth=depth),
        _findings(trace, finding_ids, anchors, {member.id: run[0].id for run in rows for member in run}),
        source,
        _graph(trace, {run[0].id for run in rows}) if graph else "",
    ]
    return "".join(parts)


def _header(trace: Trace, title: str, findings: int, graph: bool) -> str:
    info = [f"shapetrace {trace.run_info.get('shapetrace', '')}".strip(), f"torch {trace.run_info.get('torch', '?')}"]
    parts = [
        f"<header><h1>shapetrace: {html.escape(title)}</h1>",
        f'<p class="summary">{html.escape(summary_line(trace).plain)}</p>',
        f'<p class="info">{html.escape(" · ".join(info))}</p>',
    ]
    command = trace.run_info.get("command")  # under ``shapetrace run``: the command line that made it
    if isinstance(command, str):
        parts.append(f'<p class="info">command: <code class="command">{html.escape(command)}</code></p>')
    parts += [f'<p class="info"><b>data:</b> {html.escape(note)}</p>' for note in trace.run_info.get("data", ())]
    ending = closing_line(trace)
    if ending:
        parts.append(f'<p class="ending">{html.escape(ending[:500])}</p>')
        parts.append(_error_text(trace.error))
    parts.append(
        f'<nav><a href="#calls">Calls</a><a href="#findings">Findings ({findings})</a>'
        '<a href="#source">Source</a>' + ('<a href="#graph">Graph</a>' if graph else "") + "</nav></header>"
    )
    return "".join(parts)


def _error_text(error: BaseException | None) -> str:
    """The exception the traced code raised (and shapetrace's note, where it kept one)."""
    kind = getattr(error, "type_name", type(error).__name__)
    if error is None or kind in ("SystemExit", "KeyboardInterrupt"):
        return ""
    message = str(error.args[0]) if error.args else ""
    lines = [f"{kind}: {message}" if message else kind, *getattr(error, "__notes__", ())]
    return f'<pre class="error">{html.escape(chr(10).join(lines)[:5000])}</pre>'


def _codes_by_call(findings: Sequence[tuple[Finding, str]]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for finding, element in findings:
        if finding.call_id is not None:
            found.setdefault(finding.call_id, []).append((finding.code, element))
    return found


def _shapes_cell(run: list[Call], output: bool) -> str:
    """A row's shapes (``row_shapes``: ``(16|8, 10)`` for passes of two batch sizes)."""
    call = run[0]
    if output and call.error is not None:
        return f'<span class="ending">✗ {html.escape(call.error.split(":")[0])}</span>'
    lines = []
    for text, contiguous in row_shapes(run, output=output):
        flag = output and not contiguous
        mark = f'<span class="noncontig">{NON_CONTIGUOUS}</span>' if flag else ""
        lines.append(html.escape(text) + mark)
    return "<br>".join(lines)


def _table(
    trace: Trace,
    rows: list[list[Call]],
    anchors: Anchors,
    findings: Sequence[tuple[Finding, str]],
    *,
    ops: bool,
    depth: int | None,
) -> str:
    """The call table: the terminal table's rows (loops folded: ``lstm1: LSTMCell ×1999``)."""
    codes = _codes_by_call(findings)
    show_dtype, show_device = uniform(trace, "dtype") is None, uniform(trace, "device") is None
    heads = ["Call", "Line", "Input shape", "Output shape"]
    heads += ["dtype"] * show_dtype + ["device"] * show_device + ["Params", "Findings"]
    out = ['<section id="calls"><h2>Calls</h2><table class="calls"><thead><tr>']
    out += [f"<th>{head}</th>" for head in heads]
    out.append("</tr></thead><tbody>")
    transforms = folded_transforms(trace, ops=ops, depth=depth)  # data transforms: one row each, counted
    for run in rows:
        call = run[0]
        flagged = list(dict.fromkeys(pair for member in run for pair in codes.get(member.id, ())))
        css = call.kind + (" flagged" if flagged else "")
        label = call_label(call, run).plain.removeprefix("  " * call.depth + ("└─ " if call.depth else ""))
        transform = transforms.get(call.id)
        if transform is not None:
            count = f"×{transform.count} " if transform.count > 1 else ""
            label_html = f'<b>{html.escape(transform.type)}</b> <span class="dim">{count}(data transform)</span>'
        elif call.kind == "module":
            name, colon, rest = label.partition(": ")
            label_html = f"<b>{html.escape(name)}</b>" + (
                f'<span class="dim">{colon}{html.escape(rest)}</span>' if colon else ""
            )
            if not colon:  # the root: ``LSTM (root)``
                kind, _, tail = label.partition(" ")
                label_html = f'<b>{html.escape(kind)}</b> <span class="dim">{html.escape(tail)}</span>'
        else:
            label_html = html.escape(label)
        anchor = anchors.get(call.location)
        place = html.escape(row_location(run, "path"))
        if anchor is not None:
            full = html.escape(format_location(call.location), quote=True)
            place = f'<a href="#{anchor}" title="{full}">{place}</a>'
        cells = [
            f'<td class="call" style="padding-left: {0.6 + 1.4 * call.depth:.1f}em">{label_html}</td>',
            f"<td>{place}</td>",
            f"<td>{_shapes_cell(run, False)}</td>",
            f"<td>{_shapes_cell(run, True)}</td>",
        ]
        if show_dtype:
            into, out_ = dtype_label(call.inputs), dtype_label(call.outputs)  # an Embedding: int64 → float32
            cells.append(
                f"<td>{html.escape(f'{into} → {out_}' if into and out_ and into != out_ else out_ or into)}</td>"
            )
        if show_device:
            cells.append(f"<td>{html.escape(device_label(call.outputs or call.inputs))}</td>")
        params = format_count(call.num_params) if call.kind == "module" and call.num_params else ""
        cells.append(f'<td class="num">{params}</td>')
        cells.append("<td>" + " ".join(f'<a class="code" href="#{e}">{c}</a>' for c, e in flagged) + "</td>")
        out.append(f'<tr id="call-{call.id}" class="{css}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if ops is False or depth is not None:
        shown = "module calls only" if ops is False else ""
        if depth is not None:
            shown = ", ".join(part for part in (shown, f"down to depth {depth}") if part)
        out.append(f'<p class="note">Showing {shown}.</p>')
    out.append("</section>")
    return "".join(out)


def _findings(trace: Trace, findings: Sequence[tuple[Finding, str]], anchors: Anchors, row_of: dict[int, int]) -> str:
    """Each finding: code, name, severity, message, its line (linked), its row (the
    row that shows its call, a folded loop's included), the code and the help."""
    out = ['<section id="findings"><h2>Findings</h2>']
    if not findings:
        out.append('<p class="note">No findings.</p>')
    for finding, element in findings:
        severity = html.escape(finding.severity)
        out.append(f'<div class="finding {severity}" id="{element}">')
        out.append(
            f'<p><span class="badge {severity}">{html.escape(finding.code)}</span> '
            f'<b>{html.escape(finding.name)}</b> <span class="dim">{severity}</span></p>'
        )
        out.append(f"<p>{html.escape(finding.message)}</p>")
        links = []
        location = finding.location
        if location is not None:
            anchor = anchors.get(location)
            place = html.escape(format_location(location))
            links.append(f'--&gt; <a href="#{anchor}">{place}</a>' if anchor else f"--&gt; {place}")
        if finding.call_id is not None and finding.call_id in row_of:
            links.append(f'<a href="#call-{row_of[finding.call_id]}">its row in the table</a>')
        if links:
            out.append('<p class="mono">' + " · ".join(links) + "</p>")
        if location is not None and location.code:
            out.append(f"<pre>{html.escape(location.code)}</pre>")
        if finding.hint:
            out.append(f'<p class="help"><b>help:</b> {html.escape(finding.hint)}</p>')
        out.append(f'<p class="info">shapetrace explain {html.escape(finding.code)}</p></div>')
    out.append("</section>")
    return "".join(out)


def _graph(trace: Trace, rows: set[int]) -> str:
    from shapetrace.render.html import graph_svg

    try:
        svg = graph_svg(trace)
    except GraphTooLargeError as error:  # the report stands without the picture
        note = f"Graph not drawn: {html.escape(str(error))}"
        return f'<section id="graph"><h2>Graph</h2><p class="note">{note}</p></section>'
    if svg is None:
        from shapetrace.render.graph.digraph import INSTALL_DOT

        return (
            '<section id="graph"><h2>Graph</h2><p class="note">'
            f"The graph needs Graphviz's dot program; {html.escape(INSTALL_DOT)}.</p></section>"
        )
    return f'<section id="graph"><h2>Graph</h2><div class="graph">{_linked_nodes(svg, rows)}</div></section>'


# A node as dot writes it in SVG: its group, its <title> (the node's name, ``c<call id>``), its shapes.
_NODE = re.compile(r'(<g id="node\d+" class="node">\s*<title>c(\d+)</title>)(.*?)(</g>)', re.DOTALL)


def _linked_nodes(svg: str, rows: set[int]) -> str:
    """Each node whose call has a row in the table links to that row."""

    def link(match: re.Match[str]) -> str:
        if int(match.group(2)) not in rows:
            return match.group(0)
        return f'{match.group(1)}<a href="#call-{match.group(2)}">{match.group(3)}</a>{match.group(4)}'

    return _NODE.sub(link, svg)
