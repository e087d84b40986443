"""Display options, defined once for every command that renders a trace."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from shapetrace.analyze.checks import at_least
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from shapetrace.cli.outputs import FORMATS, write_outputs
from shapetrace.core.trace import Trace


def add_display_options(parser: argparse.ArgumentParser) -> None:
    formats = ", ".join(sorted(FORMATS))
    parser.add_argument("--format", "-f", action="append", choices=sorted(FORMATS), metavar="FORMAT",
                        help=f"output format, repeatable: {formats} (default: table)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write to PATH instead of stdout (its suffix picks the format when --format is absent)")
    parser.add_argument("--depth", type=_depth, metavar="N", help="hide calls nested deeper than N (0: the model only)")
    parser.add_argument("--no-ops", action="store_true", help="show module calls only")
    parser.add_argument("--fail-on", choices=("error", "warning", "never"), default="never",
                        help="exit 1 when a finding reaches this severity (default: never)")
    parser.add_argument("--ignore", metavar="CODES", default="",
                        help="comma-separated finding codes to silence, e.g. ST006,ST003")


def _depth(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if depth < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of levels, 0 or more, got {text!r}")
    return depth


def finding_codes(text: str) -> list[str]:
    return [code.strip().upper() for code in text.split(",") if code.strip()]


def render_and_judge(trace: Trace, options: argparse.Namespace) -> int:
    """Write the requested outputs; exit 1 when findings reach ``--fail-on``."""
    write_outputs(trace, options.format, options.output, ops=not options.no_ops, depth=options.depth)
    return judge(trace.findings, options.fail_on)


def judge(findings: Sequence, fail_on: str) -> int:
    if fail_on != "never" and at_least(findings, fail_on):  # type: ignore[arg-type]
        return EXIT_FINDINGS
    return EXIT_OK
