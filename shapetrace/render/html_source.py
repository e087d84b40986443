"""The HTML report's source part: each forward's annotated listing with an
anchor on every line, and the other lines the table's calls came from (a
script's own lines, a notebook cell) with theirs, so every row can link to
the line that made its call.

Code is highlighted by pygments (rich's own highlighter, so no new
dependency); shapes comments are set apart from the user's code and comments.
"""

from __future__ import annotations

import dataclasses
import html
import linecache
import re
from collections.abc import Iterable, Sequence

from shapetrace.core.finding import Finding
from shapetrace.core.records import Location
from shapetrace.core.text import format_location
from shapetrace.core.trace import Trace
from shapetrace.errors import SourceNotFoundError
from shapetrace.render.source.annotate import AnnotatedBlock, annotated_blocks, comment_gap

_CODE = re.compile(r"\[(ST\d{3})\]")


@dataclasses.dataclass
class Anchors:
    """``(filename, lineno)`` -> the ``id`` of that line in the report (``L0-32``:
    file 0 of the report, line 32); only lines the report shows have one."""

    ids: dict[tuple[str, int], str] = dataclasses.field(default_factory=dict)
    files: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, filename: str, lineno: int) -> str:
        key = (filename, lineno)
        if key not in self.ids:
            number = self.files.setdefault(filename, len(self.files))
            self.ids[key] = f"L{number}-{lineno}"
        return self.ids[key]

    def get(self, location: Location | None) -> str | None:
        if location is None:
            return None
        return self.ids.get((location.filename, location.lineno))


def source_section(
    trace: Trace, locations: Iterable[Location], finding_ids: Sequence[tuple[Finding, str]]
) -> tuple[str, Anchors]:
    """The ``<section id="source">`` and the anchors it holds.

    ``locations``: the lines the table and the findings point at; those
    outside every annotated forward are listed after them, so each gets an
    anchor. ``finding_ids``: each finding with its element id, which the
    ``[ST003]`` marks in the comments link to.
    """
    anchors = Anchors()
    parts = ['<section id="source"><h2>Source, annotated with shapes</h2>']
    try:
        blocks = annotated_blocks(trace)
    except SourceNotFoundError as error:
        blocks = []
        parts.append(f'<p class="note">{html.escape(str(error))}</p>')
    for block in blocks:
        parts.append(_block_html(block, anchors, finding_ids))
    others = []
    for location in locations:
        if anchors.get(location) is None:
            anchors.add(location.filename, location.lineno)
            others.append(location)
    if others:
        parts.append(_other_lines_html(others, anchors))
    parts.append("</section>")
    return "".join(parts), anchors


def _block_html(block: AnnotatedBlock, anchors: Anchors, finding_ids: Sequence[tuple[Finding, str]]) -> str:
    header = "<br>".join(html.escape(line.removeprefix("# ")) for line in block.header.splitlines())
    if block.missing is not None:
        note = f"source not shown: {html.escape(block.missing)}"
        return f'<details class="listing" open><summary>{header}</summary><p class="note">{note}</p></details>'
    rows = []
    for offset, (line, code_html) in enumerate(zip(block.lines, _highlighted(block.lines))):
        lineno = block.first + offset
        anchor = anchors.add(block.filename, lineno)
        comment = block.comments.get(lineno)
        css = "ln"
        tail = ""
        if comment is not None:
            linked = _link_codes(html.escape(comment), block.filename, lineno, finding_ids)
            tail = " " * comment_gap(line, block.column) + f'<span class="shapes"># {linked}</span>'
            if _CODE.search(comment):
                css += " flagged"
        rows.append(
            f'<span class="{css}" id="{anchor}"><a class="no" href="#{anchor}">{lineno}</a>{code_html}{tail}</span>'
        )
    # <details open>: a long library forward folds away with a click, no script needed
    return (
        f'<details class="listing" open><summary>{header}</summary><pre class="code">'
        + "\n".join(rows)
        + "</pre></details>"
    )


def _other_lines_html(locations: Sequence[Location], anchors: Anchors) -> str:
    """The lines outside the forwards (a script's ``pred = model(x)``), one per call place."""
    rows = []
    for location in locations:
        anchor = anchors.add(location.filename, location.lineno)
        code = location.code or linecache.getline(location.filename, location.lineno).strip()
        rows.append(
            f'<span class="ln" id="{anchor}"><a class="no" href="#{anchor}">{location.lineno}</a>'
            f'{_highlighted([code])[0]}  <span class="place"># {html.escape(format_location(location))}</span></span>'
        )
    return (
        '<details class="listing" open><summary>Other lines that made the calls</summary><pre class="code">'
        + "\n".join(rows)
        + "</pre></details>"
    )


def _link_codes(comment_html: str, filename: str, lineno: int, finding_ids: Sequence[tuple[Finding, str]]) -> str:
    """``[ST003]`` -> a link to that finding: the one of the code nearest above this line."""

    def link(match: re.Match[str]) -> str:
        code = match.group(1)
        target = _nearest(code, filename, lineno, finding_ids)
        return f'<a class="code-{code}" href="#{target}">[{code}]</a>' if target else match.group(0)

    return _CODE.sub(link, comment_html)


def _nearest(code: str, filename: str, lineno: int, finding_ids: Sequence[tuple[Finding, str]]) -> str | None:
    # The comment sits on a statement's last line; its finding points at the statement's first or at the call.
    best: tuple[int, str] | None = None
    fallback = None
    for finding, element in finding_ids:
        if finding.code != code:
            continue
        fallback = fallback or element
        place = finding.location
        if (
            place is not None
            and place.filename == filename
            and place.lineno <= lineno
            and (best is None or place.lineno > best[0])
        ):
            best = (place.lineno, element)
    return best[1] if best else fallback


def _highlighted(lines: Sequence[str]) -> list[str]:
    """Each line as HTML, its Python tokens in ``<span class="...">`` with pygments'
    short class names (``k`` keyword, ``s`` string...), styled by the report's sheet."""
    from pygments.lexers import PythonLexer
    from pygments.token import STANDARD_TYPES

    text = "\n".join(lines) + "\n"
    out: list[list[str]] = [[]]
    for kind, value in PythonLexer(stripnl=False, ensurenl=False).get_tokens(text):
        css = STANDARD_TYPES.get(kind) or STANDARD_TYPES.get(kind.parent, "")
        for k, piece in enumerate(value.split("\n")):
            if k:
                out.append([])
            if piece:
                escaped = html.escape(piece)
                out[-1].append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    return ["".join(parts) for parts in out[: len(lines)]]
