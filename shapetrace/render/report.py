"""The terminal report: a header, the table, the findings and the error."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.text import Text

from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_location
from shapetrace.core.trace import Trace
from shapetrace.render.sections import before_note, left_out_notes, split_sections
from shapetrace.render.table import caption_text, trace_table
from shapetrace.render.table_fit import Trimmed

_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold blue"}


# The checks that read recorded ops: a trace made with ops=False cannot
# raise them (measured on demos/bugs/: each finds nothing without ops).
CHECKS_NEEDING_OPS = ("ST001", "ST002", "ST003", "ST004", "ST006", "ST022")
# Of those, the checks that keep some evidence from module calls alone (ST001: a
# DataLoader's batch axis and the passes' batch sizes).
CHECKS_PARTLY_WITHOUT_OPS = frozenset({"ST001"})
FILE_WIDTH = 160


def make_console(file: IO[str] | None = None, *, width: int | None = None, color: bool | None = None) -> Console:
    """A console for a report.

    ``color``: None lets the terminal, ``NO_COLOR`` and ``FORCE_COLOR``
    decide (rich's own rules); True always colours (``--color always``);
    False writes no escape codes at all. ``width``: the terminal's, else
    ``COLUMNS``, else 160 for a file or pipe, so a redirected report is
    as wide as the table needs on most screens.
    """
    target = file if file is not None else sys.stdout
    if width is None and not os.environ.get("COLUMNS", "").isdigit() and not _isatty(target):
        width = FILE_WIDTH
    if color is True:
        return Console(file=file, width=width, force_terminal=True, no_color=False, highlight=False)
    if color is False:
        return Console(file=file, width=width, color_system=None, highlight=False)
    return Console(file=file, width=width, highlight=False)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed file
        return False


def finding_text(finding: Finding, *, severity: bool = False) -> Text:
    """``ST001 batch-first-mismatch: ...``, ``--> file:line``, ``help: ...``.

    ``severity``: also name it, ``ST001 batch-first-mismatch (error): ...``,
    for a view where colour may be absent (``repr(t.findings)``); default False.
    """
    style = _SEVERITY_STYLE.get(finding.severity, "bold")
    text = Text.assemble((finding.code, style), " ", (finding.name, "bold"))
    if severity:
        text.append(f" ({finding.severity})", style)
    text.append(": ")
    text.append(finding.message)
    if finding.location is not None:
        text.append(f"\n --> {format_location(finding.location)}", "blue")
        if finding.location.code:
            text.append(f"\n  |  {finding.location.code}", "dim")
    if finding.hint:
        text.append("\nhelp: ", "bold green")
        text.append(finding.hint)
    return text


def findings_block(findings: Iterable[Finding]) -> RenderableType:
    parts: list[RenderableType] = []
    for finding in findings:
        parts += [finding_text(finding), Text("")]
    return Trimmed(Group(*parts))


def title_call(trace: Trace) -> Call | None:
    """The model a report is about: the first pass of the first section's model
    (``render/sections.py``: the top-level model with the most parameters, not
    whichever ran first; a script's data transforms, like torchvision's
    ``Normalize`` called per image in the DataLoader, are never it)."""
    models = split_sections(trace).models
    if not models or models[0].model.kind != "module":
        return None
    return models[0].model


def title_text(trace: Trace) -> str:
    """What a report is titled after: the first section's title (``Net (in
    DistributedDataParallel)`` for a wrapped model), else ``trace``."""
    models = split_sections(trace).models
    if not models or models[0].model.kind != "module":
        return "trace"
    return models[0].title


def _others(trace: Trace, title: Call) -> str:
    """`` (also Discriminator; data transform Normalize ×48)``: the other sections'
    models, most parameters first, then the data transforms with their counts."""
    parts = split_sections(trace)
    counts: dict[str, int] = {}
    for section in parts.models:
        if section.model is not title and section.model.kind == "module":
            counts[section.title] = counts.get(section.title, 0) + 1
    names = [f"{kind} ×{n}" if n > 1 else kind for kind, n in counts.items()]
    text = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    if parts.transforms:
        shown = ", ".join(transform.label for transform in parts.transforms[:3])
        more = ", ..." if len(parts.transforms) > 3 else ""
        noun = "data transforms" if len(parts.transforms) > 1 else "data transform"
        text += ("; " if text else "") + f"{noun} {shown}{more}"
    return f" (also {text})" if text else ""


def counts_line(trace: Trace) -> str:
    """``4 module calls, 9 ops, 1 finding``."""
    modules, ops, findings = len(trace.modules), len(trace.ops), len(trace.findings)
    return (
        f"{modules} module call{'s' * (modules != 1)}, {ops} op{'s' * (ops != 1)}, "
        f"{findings} finding{'s' * (findings != 1)}"
    )


def summary_line(trace: Trace) -> Text:
    root = title_call(trace)
    title = title_text(trace) + _others(trace, root) if root is not None else "trace"
    modules, ops, findings = len(trace.modules), len(trace.ops), len(trace.findings)
    rank = trace.meta.get("rank")
    line = Text.assemble(
        (f"[rank {rank}] " if rank is not None else "", "bold magenta"),
        ("shapetrace ", "bold"),
        (title, "bold cyan"),
        f": {modules} module call{'s' * (modules != 1)}, {ops} op{'s' * (ops != 1)}, ",
    )
    line.append(f"{findings} finding{'s' * (findings != 1)}", "bold red" if findings else "green")
    if root is not None and root.num_params:
        line.append(f", {root.num_params:,} parameters")
    caption = caption_text(trace)
    if caption:
        line.append(f"; {caption}", "dim")
    if trace.ops_setting is False:
        skipped = [
            f"{code} (in part)" if code in CHECKS_PARTLY_WITHOUT_OPS else code
            for code in CHECKS_NEEDING_OPS
            if code not in trace.ignore
        ]
        line.append(f"; ops not recorded, so {', '.join(skipped)} could not run", "bold yellow")
    return line


def report(trace: Trace, *, ops: bool = True, depth: int | None = None) -> RenderableType:
    parts: list[RenderableType] = [summary_line(trace), trace_table(trace, ops=ops, depth=depth, caption=False)]
    parts += [Text.assemble(("data: ", "bold"), note) for note in trace.meta.get("data", ())]
    parts += [Text.assemble(("not recorded: ", "bold yellow"), note) for note in left_out_notes(trace)]
    before = before_note(trace)
    if before:
        parts.append(Text.assemble(("outside the model: ", "bold"), before))
    findings = trace.findings
    if findings:
        parts += [Text(""), findings_block(findings)]
    ending = closing_line(trace)
    if ending:
        parts.append(Text(ending[:500], "bold red"))
    return Trimmed(Group(*parts))


def closing_line(trace: Trace) -> str | None:
    """How the traced code ended, when not normally.

    A script (``shapetrace run``) says ``script raised RuntimeError (exit 1)``,
    ``script exited with 3`` or ``script interrupted (exit 130)``; a block
    traced by the API says what it raised.
    """
    error = trace.error
    exit_code = trace.run_info.get("script_exit")
    if exit_code is None:
        return None if error is None else f"the traced block raised {error!s}"
    kind = getattr(error, "type_name", type(error).__name__) if error is not None else None
    who = "process" if "process" in trace.run_info else "script"  # a script's child (record/children.py)
    if kind == "KeyboardInterrupt":
        return f"{who} interrupted (exit {exit_code})"
    if kind is not None and kind != "SystemExit":
        return f"{who} raised {kind} (exit {exit_code})"
    return f"{who} exited with {exit_code}" if exit_code else None


def print_report(trace: Trace, *, ops: bool = True, depth: int | None = None, file: IO[str] | None = None) -> None:
    make_console(file).print(report(trace, ops=ops, depth=depth))
