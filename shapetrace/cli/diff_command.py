"""``shapetrace diff``: the calls whose shapes, dtypes or devices changed."""

from __future__ import annotations

import argparse
import os

from rich_argparse import RichHelpFormatter

from shapetrace.analyze.trace_diff import diff_traces
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from shapetrace.core.serialize import load
from shapetrace.render.diff_table import diff_report
from shapetrace.render.report import make_console


def add_parser(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser("diff", formatter_class=RichHelpFormatter,
                               help="compare two saved traces (exit 1 when they differ)",
                               description="Show the calls whose shapes, dtypes or devices differ between "
                                           "two traces, e.g. before and after a refactor. Exit 1 when any do.")
    diff.add_argument("before", metavar="A.json")
    diff.add_argument("after", metavar="B.json")


def execute(options: argparse.Namespace) -> int:
    before, after = load(options.before), load(options.after)
    changes = diff_traces(before, after)
    names = os.path.basename(options.before), os.path.basename(options.after)
    if names[0] == names[1]:
        names = options.before, options.after
    make_console().print(diff_report(changes, *names))
    return EXIT_FINDINGS if changes else EXIT_OK
