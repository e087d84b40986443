"""Writing a trace in the formats the command offers, to stdout or a file."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.render.report import make_console, report


def _table(trace: Trace, path: str | None, **view: Any) -> None:
    if path is None:
        make_console().print(report(trace, **view))
        return
    with open(path, "w", encoding="utf-8") as handle:
        make_console(handle, width=160, color=False).print(report(trace, **view))


def _json(trace: Trace, path: str | None, **view: Any) -> None:
    _write_text(trace.to_json(indent=1), path)


def _source(trace: Trace, path: str | None, **view: Any) -> None:
    if path is None:  # the terminal gets syntax highlighting, a file plain text
        make_console().print(trace.annotate(rich=True), crop=False, soft_wrap=True)
        return
    _write_text(trace.annotate(), path)


def _tree(trace: Trace, path: str | None, **view: Any) -> None:
    if path is None:
        make_console().print(trace.tree(**view))
        return
    with open(path, "w", encoding="utf-8") as handle:
        make_console(handle, width=100, color=False).print(trace.tree(**view))


def _dot(trace: Trace, path: str | None, **view: Any) -> None:
    _write_text(trace.graph(**view).source, path)


def _picture(format: str) -> Writer:
    """An ``svg``/``png`` writer; without ``dot`` it writes the .dot file and says how to get dot."""

    def write(trace: Trace, path: str | None, **view: Any) -> None:
        from shapetrace.render.graph.digraph import INSTALL_DOT, save_graph

        graph = trace.graph(**view)
        if path is not None:
            save_graph(graph, path, format)
        elif shutil.which("dot") is None:
            raise ShapetraceError(f"--format {format} needs the dot program; {INSTALL_DOT} "
                                  "(or use --format dot)")
        else:
            sys.stdout.buffer.write(graph.pipe(format=format))

    return write


def _write_text(text: str, path: str | None) -> None:
    if path is None:
        print(text)
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


Writer = Callable[..., None]
# format name -> (file suffix, writer)
FORMATS: dict[str, tuple[str, Writer]] = {
    "table": (".txt", _table),
    "json": (".json", _json),
    "source": (".py", _source),
    "tree": (".tree.txt", _tree),
    "dot": (".dot", _dot),
    "svg": (".svg", _picture("svg")),
    "png": (".png", _picture("png")),
}


def _format_from_suffix(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    for name, (known, _) in FORMATS.items():
        if suffix == known and name != "table":
            return name
    return "table"


def write_outputs(trace: Trace, formats: Sequence[str] | None, output: str | None, **view: Any) -> None:
    """Write each format; with several formats, ``output`` is a stem for each file."""
    if not formats:
        formats = [_format_from_suffix(output) if output else "table"]
    for name in dict.fromkeys(formats):
        if name not in FORMATS:
            raise ShapetraceError(f"unknown format {name!r} (choose from {', '.join(sorted(FORMATS))})")
        suffix, writer = FORMATS[name]
        path = output
        if output is not None and len(formats) > 1:
            path = os.path.splitext(output)[0] + suffix
        try:
            writer(trace, path, **view)
        except OSError as bad:
            raise ShapetraceError(f"cannot write {path}: {bad.strerror or bad}") from None
