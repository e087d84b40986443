"""Writing a trace in the formats the command offers, to stdout or a file.

``plan_outputs`` checks a command line's formats and paths before anything
runs (a training script may take an hour; a bad ``-o`` must not wait for
it); ``write_outputs`` then writes them and says on stderr what it wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.render.report import counts_line, findings_block, make_console, report


@dataclasses.dataclass(frozen=True)
class View:
    """What the human formats show; never what is recorded or checked."""

    ops: bool = True
    depth: int | None = None
    color: bool | None = None  # None: the terminal and NO_COLOR / FORCE_COLOR decide


def _table(trace: Trace, path: str | None, view: View) -> None:
    if path is None:
        make_console(color=view.color).print(report(trace, ops=view.ops, depth=view.depth))
        return
    with open(path, "w", encoding="utf-8") as handle:
        make_console(handle, width=160, color=False).print(report(trace, ops=view.ops, depth=view.depth))


def _json(trace: Trace, path: str | None, view: View) -> None:
    """The trace, plus its ``findings`` and the report's ``sections`` as data
    (``shapetrace.load`` reads the trace and checks it again, so these keys are
    for other programs)."""
    from shapetrace.render.findings_data import finding_dict
    from shapetrace.render.sections import sections_data

    document = json.loads(trace.to_json())
    document["findings"] = [finding_dict(finding) for finding in trace.findings]
    document["sections"] = sections_data(trace)
    _write_text(json.dumps(document, indent=1), path)


def _github(trace: Trace, path: str | None, view: View) -> None:
    from shapetrace.render.findings_data import github_annotations

    _write_text(github_annotations(trace.findings), path)


def _sarif(trace: Trace, path: str | None, view: View) -> None:
    from shapetrace.render.findings_data import sarif_log

    _write_text(sarif_log(trace.findings), path)


def _findings_after(trace: Trace, console: Any) -> None:
    """The findings block that follows every human format, as after the table."""
    findings = trace.findings
    if findings:
        console.print()
        console.print(findings_block(findings))


def _source(trace: Trace, path: str | None, view: View) -> None:
    if path is None:  # the terminal gets syntax highlighting, a file plain text
        console = make_console(color=view.color)
        console.print(trace.annotate(rich=True), crop=False, soft_wrap=True)
        _findings_after(trace, console)
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(trace.annotate().rstrip("\n") + "\n")
        _findings_after(trace, make_console(handle, width=160, color=False))


def _tree(trace: Trace, path: str | None, view: View) -> None:
    if path is None:
        console = make_console(color=view.color)
        console.print(trace.tree(show_ops=view.ops, depth=view.depth))
        _findings_after(trace, console)
        return
    with open(path, "w", encoding="utf-8") as handle:
        console = make_console(handle, width=100, color=False)
        console.print(trace.tree(show_ops=view.ops, depth=view.depth))
        _findings_after(trace, console)


def _dot(trace: Trace, path: str | None, view: View) -> None:
    _write_text(trace.graph(show_ops=view.ops, depth=view.depth).source, path)


def _picture(format: str) -> Writer:
    """An ``svg``/``png`` writer (``plan_outputs`` made sure ``dot`` exists)."""

    def write(trace: Trace, path: str | None, view: View) -> None:
        data = trace.graph(show_ops=view.ops, depth=view.depth).pipe(format=format)
        if path is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        with open(path, "wb") as handle:
            handle.write(data)

    return write


def _html(trace: Trace, path: str | None, view: View) -> None:
    """The self-contained HTML report; without ``dot`` it says the graph needs
    Graphviz (one line in the page, one on stderr) and is written all the same."""
    from shapetrace.render.html_report import html_report

    if shutil.which("dot") is None:
        print("shapetrace: warning: the HTML report has no graph: Graphviz's dot program is missing", file=sys.stderr)
    _write_text(html_report(trace, ops=view.ops, depth=view.depth), path)


def _write_text(text: str, path: str | None) -> None:
    """``text`` and a final newline; nothing at all for an empty text (no annotations)."""
    if text and not text.endswith("\n"):
        text += "\n"
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


Writer = Callable[[Trace, "str | None", View], None]
# format name -> (file suffix, writer)
FORMATS: dict[str, tuple[str, Writer]] = {
    "table": (".txt", _table),
    "json": (".json", _json),
    "source": (".py", _source),
    "tree": (".tree.txt", _tree),
    "dot": (".dot", _dot),
    "svg": (".svg", _picture("svg")),
    "png": (".png", _picture("png")),
    "github": (".github.txt", _github),
    "sarif": (".sarif", _sarif),
    "html": (".html", _html),
}
# Formats a program reads: on stdout nothing else may be mixed into them.
MACHINE_FORMATS = {"json", "dot", "svg", "png", "github", "sarif", "html"}
BINARY_FORMATS = {"png"}
GRAPHVIZ_FORMATS = {"svg", "png"}


def register_format(name: str, suffix: str, writer: Writer, *, machine: bool = False) -> None:
    """Add a format (the findings and HTML outputs register themselves this way)."""
    FORMATS[name] = (suffix, writer)
    if machine:
        MACHINE_FORMATS.add(name)


# Other suffixes a file of a format goes by (``report.htm`` opens as HTML too).
SUFFIX_ALIASES = {".htm": "html"}


def format_for_suffix(path: str) -> str | None:
    """The format a file name asks for (``.json`` -> json, ``.htm`` -> html), None for an unknown suffix."""
    lower = path.lower()
    best: tuple[int, str] | None = None
    suffixes = [(suffix, name) for name, (suffix, _) in FORMATS.items()] + list(SUFFIX_ALIASES.items())
    for suffix, name in suffixes:
        if lower.endswith(suffix) and (best is None or len(suffix) > best[0]):
            best = (len(suffix), name)
    return best[1] if best else None


@dataclasses.dataclass(frozen=True)
class Plan:
    """The outputs of one command line: (format, path or None for stdout)."""

    outputs: tuple[tuple[str, str | None], ...]
    warnings: tuple[str, ...] = ()

    @property
    def machine_stdout(self) -> bool:
        """A machine-readable format goes to stdout: the script's prints must not."""
        return any(path is None and name in MACHINE_FORMATS for name, path in self.outputs)


def plan_outputs(formats: Sequence[str] | None, output: str | None) -> Plan:
    """Check formats and paths before anything runs; raise ``ShapetraceError`` in one line.

    Without ``--format`` the suffix of ``-o`` picks the format (an unknown
    suffix gets the table); with several formats ``-o`` is a stem for each
    file. A format that does not match a known suffix of ``-o`` is written
    as asked, with a warning.
    """
    warnings: list[str] = []
    if not formats:
        formats = [format_for_suffix(output) or "table" if output else "table"]
    names = list(dict.fromkeys(formats))
    for name in names:
        if name not in FORMATS:
            raise ShapetraceError(f"unknown format {name!r} (choose from {', '.join(sorted(FORMATS))})")
    if output is None and len(names) > 1 and MACHINE_FORMATS.intersection(names):
        raise ShapetraceError(
            f"--format {' --format '.join(names)} would mix on stdout; give -o STEM to write one file per format"
        )
    outputs: list[tuple[str, str | None]] = []
    for name in names:
        path = output
        if output is not None and len(names) > 1:
            path = os.path.splitext(output)[0] + FORMATS[name][0]
        elif output is not None:
            asked = format_for_suffix(output)
            if asked not in (None, "table", name):
                warnings.append(f"writing {name} to {output}, whose suffix says {asked}")
        outputs.append((name, path))
        if name in GRAPHVIZ_FORMATS and shutil.which("dot") is None:
            from shapetrace.render.graph.digraph import INSTALL_DOT

            raise ShapetraceError(f"--format {name} needs Graphviz's dot program; {INSTALL_DOT} (or use --format dot)")
        if path is None and name in BINARY_FORMATS and _stdout_is_terminal():
            raise ShapetraceError(f"--format {name} is binary and stdout is a terminal; give -o FILE.{name} or pipe it")
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise ShapetraceError(f"cannot write {path}: No such file or directory ({folder} is missing)")
    return Plan(tuple(outputs), tuple(warnings))


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def write_outputs(trace: Trace, plan: Plan, view: View = View()) -> None:
    """Write each planned output; one summary line on stderr per file written.

    A reader that closed the pipe (``| head -1``) ends the output quietly.
    """
    for warning in plan.warnings:
        print(f"shapetrace: warning: {warning}", file=sys.stderr)
    for name, path in plan.outputs:
        writer = FORMATS[name][1]
        try:
            writer(trace, path, view)
        except BrokenPipeError:
            silence_stdout()
            return
        except OSError as bad:
            raise ShapetraceError(f"cannot write {path or 'to stdout'}: {bad.strerror or bad}") from None
        if path is not None:
            print(f"shapetrace: wrote {path}: {counts_line(trace)}", file=sys.stderr)


def silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the flush at exit does not raise again
    (the recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
