"""The ``shapetrace`` command: ``run``, ``show`` and ``diff``.

Commands build a Trace or a result; renderers write it. Only ``main`` turns
a ``ShapetraceError`` into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich_argparse import RichHelpFormatter

from shapetrace._version import __version__
from shapetrace.cli import data_command, diff_command, run_command, show_command
from shapetrace.cli.exit_codes import EXIT_USAGE
from shapetrace.errors import ShapetraceError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ShapetraceError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="shapetrace", formatter_class=RichHelpFormatter,
                     description="Trace tensor shapes through PyTorch models and explain shape bugs.")
    parser.add_argument("--version", action="version", version=f"shapetrace {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in (run_command, show_command, diff_command, data_command):
        command.add_parser(commands)
    return parser


def _split_script_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Arguments after ``--`` belong to the traced script."""
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code (0 ok, 1 findings or differences, 2 usage error)."""
    ours, script_args = _split_script_args(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        options = parser.parse_args(ours)
        if options.command == "run":
            return run_command.execute(options, script_args)
        if options.command == "show":
            return show_command.execute(options)
        if options.command == "diff":
            return diff_command.execute(options)
        if options.command == "data":
            return data_command.execute(options)
        parser.print_help()
        return EXIT_USAGE
    except ShapetraceError as error:
        print(f"shapetrace: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def entry_point() -> None:
    sys.exit(main())
