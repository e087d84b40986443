"""``shapetrace diff trace.rank*.json``: the first call whose shapes differ across ranks."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from rich.text import Text

from shapetrace.analyze.rank_diff import first_divergence
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES, EXIT_OK
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.render.report import finding_text, make_console


def expand(paths: Sequence[str]) -> list[str]:
    """Paths as given, a pattern (``'trace.rank*.json'``, quoted) as the files it matches."""
    expanded: list[str] = []
    for path in paths:
        if glob.has_magic(path) and not os.path.exists(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise ShapetraceError(f"no file matches {path}")
            expanded += matches
        else:
            expanded.append(path)
    return expanded


def are_ranks(traces: Sequence[Trace]) -> bool:
    """Traces written by the ranks of one run (``trace.rank{R}.json``)."""
    ranks = [trace.meta.get("rank") for trace in traces]
    return all(isinstance(r, int) for r in ranks) and len(set(ranks)) == len(ranks)


def compare_ranks(traces: Sequence[Trace], paths: Sequence[str], *, color: bool | None = None) -> int:
    """Print the first divergence across ranks (exit 1, ``EXIT_DIFFERENCES``) or that they agree (exit 0).

    ``color``: ``diff --color`` (True always, False never, None: the terminal
    and ``NO_COLOR``/``FORCE_COLOR`` decide, as ``make_console`` does)."""
    ordered = sorted(zip(traces, paths), key=lambda pair: pair[0].meta["rank"])
    console = make_console(color=color)
    names = ", ".join(f"rank {t.meta['rank']} ({os.path.basename(p)})" for t, p in ordered)
    console.print(Text(f"comparing {names}", "bold"))
    divergence = first_divergence([trace for trace, _ in ordered])
    if divergence is None:
        console.print(Text("the ranks' shapes agree at every aligned call", "green"))
        return EXIT_OK
    console.print(Text(f"first divergence across ranks: {divergence.text()}", "bold red"))
    console.print(Text(f"help: {divergence.hint}"))
    findings = {(f.code, f.location): f for trace, _ in ordered for f in trace.findings if f.code == "ST020"}
    for found in findings.values():
        console.print(Text(""))
        console.print(finding_text(found))
    return EXIT_DIFFERENCES
