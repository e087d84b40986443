"""``shapetrace show``: render a saved trace."""

from __future__ import annotations

import argparse

from rich_argparse import RichHelpFormatter

from shapetrace.cli.options import (
    add_display_options,
    apply_project_config,
    finding_codes,
    load_trace_file,
    render_and_judge,
)
from shapetrace.core.trace import Trace


def add_parser(commands: argparse._SubParsersAction) -> None:
    show = commands.add_parser(
        "show",
        formatter_class=RichHelpFormatter,
        help="render a saved trace (.json)",
        description="Render a trace saved with --format json or Trace.to_json().",
    )
    show.add_argument("target", metavar="TRACE", help="a trace file written as JSON")
    add_display_options(show)


def execute(options: argparse.Namespace) -> int:
    apply_project_config(options)
    trace = load_trace_file(options.target)
    if options.ignore:
        trace = Trace(
            trace.calls,
            error=trace.error,
            ops=trace.ops_setting,
            ignore=[*trace.ignore, *finding_codes(options.ignore)],
            run_info=trace.run_info,
        )
    return render_and_judge(trace, options)
