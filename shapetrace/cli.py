"""The ``shapetrace`` command: ``run`` a script, ``show`` a saved trace.

Commands build a Trace; ``outputs`` decides how it is written. Only ``main``
turns a ``ShapetraceError`` into a one-line message.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from rich_argparse import RichHelpFormatter

from ._version import __version__
from .checks import at_least
from .errors import ShapetraceError
from .outputs import FORMATS, write_outputs
from .script import DEFAULT_MAX_CALLS, run_script
from .serialize import load
from .trace import Trace

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ShapetraceError(message)


def _add_display_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that renders a trace."""
    parser.add_argument("--format", "-f", action="append", choices=sorted(FORMATS), metavar="FORMAT",
                        help=f"output format, repeatable: {', '.join(sorted(FORMATS))} (default: table)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write to PATH instead of stdout (the suffix picks the format when --format is absent)")
    parser.add_argument("--depth", type=int, metavar="N", help="hide calls nested deeper than N")
    parser.add_argument("--no-ops", action="store_true", help="show module calls only")
    parser.add_argument("--fail-on", choices=("error", "warning", "never"), default="never",
                        help="exit 1 when a finding reaches this severity (default: never)")
    parser.add_argument("--ignore", metavar="CODES", default="",
                        help="comma-separated finding codes to silence, e.g. ST006,ST003")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="shapetrace", formatter_class=RichHelpFormatter,
                     description="Trace tensor shapes through PyTorch models and explain shape bugs.")
    parser.add_argument("--version", action="version", version=f"shapetrace {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", formatter_class=RichHelpFormatter,
                              help="run a script with every nn.Module traced",
                              description="Run SCRIPT as __main__ with every nn.Module traced, then report the "
                                          "first forward pass of each input signature of each model. "
                                          "Arguments after -- go to the script.")
    run.add_argument("target", metavar="SCRIPT", help="a Python script, e.g. demos/lstm_forecaster.py")
    run.add_argument("script_args", nargs="*", metavar="ARG", help=argparse.SUPPRESS)
    run.add_argument("--max-calls", type=int, default=DEFAULT_MAX_CALLS, metavar="N",
                     help=f"record at most N passes (distinct input shapes) per model (default: {DEFAULT_MAX_CALLS})")
    _add_display_options(run)

    show = commands.add_parser("show", formatter_class=RichHelpFormatter, help="render a saved trace (.json)",
                               description="Render a trace saved with --format json or Trace.to_json().")
    show.add_argument("target", metavar="TRACE", help="a trace file written as JSON")
    _add_display_options(show)
    return parser


def _split_script_args(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def _fail_on(trace: Trace, level: str) -> bool:
    return level != "never" and bool(at_least(trace.findings, level))  # type: ignore[arg-type]


def _print_script_error(error: BaseException, script: str) -> None:
    """The script's traceback as Python prints it, from the script's own frames on."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__, file=sys.stderr)


def _command_run(options: argparse.Namespace, script_args: list[str]) -> int:
    import os

    if options.max_calls < 1:
        raise ShapetraceError("--max-calls must be at least 1")
    script = os.path.abspath(options.target)
    result = run_script(script, [*options.script_args, *script_args], ops=not options.no_ops,
                        max_calls=options.max_calls, ignore=_codes(options.ignore))
    if result.error is not None and not isinstance(result.error, KeyboardInterrupt):
        _print_script_error(result.error, script)
    elif isinstance(result.error, KeyboardInterrupt):
        print("shapetrace: interrupted; reporting what was recorded", file=sys.stderr)
    write_outputs(result.trace, options.format, options.output, ops=not options.no_ops, depth=options.depth)
    if result.exit_code:
        return result.exit_code
    return EXIT_FINDINGS if _fail_on(result.trace, options.fail_on) else EXIT_OK


def _command_show(options: argparse.Namespace) -> int:
    trace = load(options.target)
    if options.ignore:
        trace = Trace(trace.calls, error=trace.error, ops=trace.ops_setting,
                      ignore=[*trace.ignore, *_codes(options.ignore)], meta=trace.meta)
    write_outputs(trace, options.format, options.output, ops=not options.no_ops, depth=options.depth)
    return EXIT_FINDINGS if _fail_on(trace, options.fail_on) else EXIT_OK


def _codes(text: str) -> list[str]:
    return [code.strip().upper() for code in text.split(",") if code.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code (0 ok, 1 findings, 2 usage error)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    ours, script_args = _split_script_args(arguments)
    parser = build_parser()
    try:
        options = parser.parse_args(ours)
        if options.command is None:
            parser.print_help()
            return EXIT_USAGE
        if options.command == "run":
            return _command_run(options, script_args)
        return _command_show(options)
    except ShapetraceError as error:
        print(f"shapetrace: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def entry_point() -> None:
    sys.exit(main())
