"""How ``t.findings`` shows itself: in a REPL, with ``print``, ``rich.print`` and in a notebook.

Each finding looks as in the report (code, name, message, ``--> file:line``,
the line, ``help:``), with its severity named, since a plain ``repr`` has no
colour to tell it by.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.text import Text

from shapetrace.core.finding import Finding
from shapetrace.render.report import finding_text

# rich fills in {code}: inline styles need no stylesheet in a notebook.
_PRE = (
    "<pre style=\"font-family: Menlo, 'DejaVu Sans Mono', Consolas, monospace; font-size: 12px; "
    'line-height: 1.35; white-space: pre-wrap">{code}</pre>'
)


def findings_renderable(findings: Sequence[Finding]) -> RenderableType:
    """``2 findings``, then each finding as the report shows it, a blank line between them."""
    count = len(findings)
    parts: list[RenderableType] = [Text(f"{count} finding{'s' * (count != 1)}", style="bold red" if count else "green")]
    for number, finding in enumerate(findings):
        if number:
            parts.append(Text(""))
        parts.append(finding_text(finding, severity=True))
    return Group(*parts)


def findings_plain(findings: Sequence[Finding]) -> str:
    """``findings_renderable`` as plain text: no escape codes, each line whole (the terminal wraps it)."""
    out = io.StringIO()
    Console(file=out, color_system=None, highlight=False, force_jupyter=False).print(
        findings_renderable(findings), soft_wrap=True
    )
    return out.getvalue().rstrip("\n")


def findings_html(findings: Sequence[Finding]) -> str:
    """``findings_renderable`` as an HTML ``<pre>`` with inline colours (a notebook cell)."""
    # force_jupyter=False: inside a notebook rich would also display what it prints.
    console = Console(
        record=True,
        file=io.StringIO(),
        width=120,
        force_terminal=True,
        color_system="truecolor",
        force_jupyter=False,
        highlight=False,
    )
    console.print(findings_renderable(findings))
    return console.export_html(inline_styles=True, code_format=_PRE)
