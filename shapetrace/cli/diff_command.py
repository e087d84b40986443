"""``shapetrace diff``: the calls whose shapes, dtypes or devices changed."""

from __future__ import annotations

import argparse
import os

from rich_argparse import RichHelpFormatter

from shapetrace.analyze.trace_diff import diff_traces
from shapetrace.cli.exit_codes import EXIT_DIFFERENCES, EXIT_OK
from shapetrace.cli.options import add_color_option, color_of, load_trace_file
from shapetrace.cli.rank_compare import are_ranks, compare_ranks, expand
from shapetrace.errors import ShapetraceError
from shapetrace.render.diff_table import diff_report
from shapetrace.render.report import make_console


def add_parser(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser(
        "diff",
        formatter_class=RichHelpFormatter,
        help="compare two saved traces (exit 1 when they differ)",
        description="Show the calls whose shapes, dtypes or devices differ between "
        "two traces, e.g. before and after a refactor. Exit 4 when any do.",
    )
    diff.add_argument("before", metavar="A.json")
    diff.add_argument(
        "after",
        metavar="B.json",
        nargs="*",
        help="or the traces of a torchrun's ranks (trace.rank0.json trace.rank1.json, or "
        "'trace.rank*.json'): the first call whose shapes differ across ranks",
    )
    add_color_option(diff, "colour the changed dims")


def execute(options: argparse.Namespace) -> int:
    paths = expand([options.before, *options.after])
    if len(paths) < 2:  # as argparse says it, before any file is read
        raise ShapetraceError("the following arguments are required: B.json")
    traces = [load_trace_file(path) for path in paths]
    color = color_of(options)
    if len(traces) >= 2 and are_ranks(traces):
        return compare_ranks(traces, paths, color=color)
    if len(traces) != 2:
        raise ShapetraceError(f"diff compares two traces, or the traces of a run's ranks; got {len(traces)}")
    options.before, options.after = paths
    before, after = traces
    changes = diff_traces(before, after)
    names = os.path.basename(options.before), os.path.basename(options.after)
    if names[0] == names[1]:
        names = options.before, options.after
    make_console(color=color).print(diff_report(changes, *names))
    return EXIT_DIFFERENCES if changes else EXIT_OK
