"""Display options, defined once for every command that renders a trace."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from shapetrace.analyze.checks import at_least
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from shapetrace.cli.outputs import FORMATS, Plan, View, plan_outputs, write_outputs
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.script import DEFAULT_MAX_CALLS


def add_display_options(parser: argparse.ArgumentParser) -> None:
    formats = ", ".join(sorted(FORMATS))
    parser.add_argument(
        "--format",
        "-f",
        action="append",
        choices=sorted(FORMATS),
        metavar="FORMAT",
        help=f"output format, repeatable: {formats} (default: table)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write to PATH instead of stdout (its suffix picks the format when --format is absent)",
    )
    parser.add_argument("--depth", type=_depth, metavar="N", help="hide calls nested deeper than N (0: the model only)")
    parser.add_argument(
        "--no-ops",
        action="store_true",
        help="show module calls only, like show_ops=False in Python (display only: ops are still recorded "
        "and checked; see --no-op-recording)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("error", "warning", "never"),
        default=None,
        # rich-argparse reads [...] as markup: escaped, or the table name vanishes from --help
        help="exit 1 when a finding reaches this severity (default: never, or fail-on in "
        "\\[tool.shapetrace] of pyproject.toml)",
    )
    parser.add_argument(
        "--ignore", metavar="CODES", default="", help="comma-separated finding codes to silence, e.g. ST006,ST003"
    )
    add_color_option(parser, "colour the terminal output")


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


def load_trace_file(path: str) -> Trace:
    """``shapetrace.load`` for the command: an error names the file it is about."""
    from shapetrace.core.serialize import load

    try:
        return load(path)
    except ShapetraceError as bad:
        message = str(bad)
        raise ShapetraceError(message if path in message else f"{path}: {message}") from None


def apply_project_config(options: argparse.Namespace) -> None:
    """Fill what the command line left out from ``[tool.shapetrace]`` (the nearest
    pyproject.toml): fail-on, max-calls and format; its ignore codes are added."""
    from shapetrace.core.project_config import project_config

    config = project_config()
    if getattr(options, "fail_on", "never") is None:
        options.fail_on = config.get("fail-on", "never")
    if hasattr(options, "max_calls") and options.max_calls is None:
        options.max_calls = config.get("max-calls", DEFAULT_MAX_CALLS)
    if hasattr(options, "format") and not options.format and not options.output and "format" in config:
        options.format = [config["format"]]
    if hasattr(options, "ignore") and config.get("ignore"):
        options.ignore = ",".join([*config["ignore"], *finding_codes(options.ignore or "")])


def output_plan(options: argparse.Namespace) -> Plan:
    """The formats and files of the command line, checked before anything runs."""
    return plan_outputs(options.format, options.output)


_COLOR = {"auto": None, "always": True, "never": False}


def add_color_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--color auto|always|never`` (``color_of`` reads it); ``what``: what it colours, for --help."""
    parser.add_argument(
        "--color",
        choices=tuple(_COLOR),
        default="auto",
        help=f"{what} (default: auto: a terminal, unless NO_COLOR is set; FORCE_COLOR forces it)",
    )


def color_of(options: argparse.Namespace) -> bool | None:
    """``--color`` as ``make_console`` takes it: True, False, or None (auto: the terminal and the environment)."""
    return _COLOR[options.color]


def view_of(options: argparse.Namespace) -> View:
    return View(ops=not options.no_ops, depth=options.depth, color=color_of(options))


def render_and_judge(trace: Trace, options: argparse.Namespace, plan: Plan | None = None) -> int:
    """Write the requested outputs; ``EXIT_FINDINGS`` (1) when findings reach ``--fail-on``."""
    write_outputs(trace, plan or output_plan(options), view_of(options))
    return judge(trace.findings, options.fail_on)


def judge(findings: Sequence, fail_on: str) -> int:
    if fail_on != "never" and at_least(findings, fail_on):  # type: ignore[arg-type]
        return EXIT_FINDINGS
    return EXIT_OK
