"""``shapetrace explain ST003``: what a finding means, why it matters, a wrong and a right example."""

from __future__ import annotations

import argparse

from rich_argparse import RichHelpFormatter

from shapetrace.cli.exit_codes import EXIT_OK
from shapetrace.errors import ShapetraceError
from shapetrace.render.report import make_console


def add_parser(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser(
        "explain",
        formatter_class=RichHelpFormatter,
        help="explain a finding code (ST003), or list them all",
        description="Print a finding's documentation: what it finds, why it "
        "matters, a wrong and a right example (like ruff rule).",
    )
    explain.add_argument("code", metavar="CODE", nargs="?", help="a finding code, e.g. ST003; none: list all")


def execute(options: argparse.Namespace) -> int:
    from shapetrace.analyze.checks import load_detectors
    from shapetrace.render.finding_docs import explain

    catalogue = load_detectors()
    console = make_console()
    if options.code is None:
        for code, info in sorted(catalogue.items()):
            console.print(f"{code}  {info.name:<24} {info.severity:<8} {info.summary}", soft_wrap=True)
        return EXIT_OK
    code = options.code.strip().upper()
    if code not in catalogue:
        raise ShapetraceError(f"unknown finding code {options.code!r} (codes: {', '.join(sorted(catalogue))})")
    console.print(explain(code))
    return EXIT_OK
