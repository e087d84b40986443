"""The ``shapetrace`` command: ``run``, ``show`` and ``diff``.

Commands build a Trace or a result; renderers write it. Only ``main`` turns
a ``ShapetraceError`` into a one-line message and exit code 2 (the exit
codes: ``shapetrace.cli.exit_codes``).
"""

from __future__ import annotations

import argparse
import difflib
import platform
import re
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich_argparse import RawDescriptionRichHelpFormatter

from shapetrace._version import __version__
from shapetrace.cli import data_command, diff_command, explain_command, run_command, show_command
from shapetrace.cli.exit_codes import EXIT_CODES_HELP, EXIT_OK, EXIT_USAGE
from shapetrace.cli.internal_error import report_internal_error
from shapetrace.cli.outputs import silence_stdout
from shapetrace.errors import ShapetraceError

SUBCOMMANDS = (run_command, show_command, diff_command, data_command, explain_command)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ShapetraceError(message)


EXAMPLES = f"""\
examples:
  shapetrace run train.py                      trace a training script, report each model
  shapetrace run train.py -- --epochs 2        arguments after -- go to the script
  shapetrace run -m pkg.train                  a module, as with python -m
  shapetrace run models:build --input 8x30x7   a model from a factory, one forward pass
  shapetrace run train.py -o trace.json        save the trace; shapetrace show trace.json
  shapetrace diff before.json after.json       what a refactor changed
  shapetrace explain ST003                     what a finding means, with a fix

{EXIT_CODES_HELP}"""


def version_text() -> str:
    """``shapetrace 0.4.0 (torch 2.13.0+cpu, Python 3.11.7)``, without importing torch."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "not installed"
    return f"shapetrace {__version__} (torch {torch_version}, Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shapetrace",
        formatter_class=RawDescriptionRichHelpFormatter,
        epilog=EXAMPLES,
        description="Trace tensor shapes through PyTorch models and explain shape bugs.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in SUBCOMMANDS:
        command.add_parser(commands)
    return parser


def _split_script_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Arguments after ``--`` belong to the traced script."""
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code (``shapetrace.cli.exit_codes``: 0 ok, 1 the traced
    code raised, 2 usage error, 3 findings, 4 differences, or the script's own)."""
    given = list(sys.argv[1:] if argv is None else argv)
    ours, script_args = _split_script_args(given)
    parser = build_parser()
    try:
        options = parser.parse_args(ours)
        # The report names the command that made it (the HTML header; the JSON's run_info).
        options.command_line = shlex.join(["shapetrace", *given])
        if options.command == "run":
            return run_command.execute(options, script_args)
        if options.command == "show":
            return show_command.execute(options)
        if options.command == "diff":
            return diff_command.execute(options)
        if options.command == "data":
            return data_command.execute(options)
        if options.command == "explain":
            return explain_command.execute(options)
        parser.print_help()
        return EXIT_USAGE
    except ShapetraceError as error:
        print(f"shapetrace: error: {_with_hint(str(error), ours)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader left (`| head -1`): end quietly, as git and ruff do
        silence_stdout()
        return EXIT_OK
    except Exception as error:  # shapetrace's own bug: one line, not a traceback that reads like the user's
        return report_internal_error(error, f"running shapetrace {' '.join(ours[:1])}".rstrip())


def _with_hint(message: str, argv: list[str]) -> str:
    """A usage error with the likely fix: a misspelt command, script arguments before ``--``."""
    choice = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
    if choice:
        names = [command.__name__.rsplit(".", 1)[-1].removesuffix("_command") for command in SUBCOMMANDS]
        close = difflib.get_close_matches(choice.group(1), names, n=1)
        known = ", ".join(names)
        return (
            f"unknown command {choice.group(1)!r}"
            + (f"; did you mean {close[0]}?" if close else "")
            + f" (commands: {known})"
        )
    if message.startswith("unrecognized arguments:") and argv[:1] == ["run"]:
        extra = message.removeprefix("unrecognized arguments:").split()
        # The command as typed, the script's arguments moved behind ``--``
        # (argparse names them in order; taken from the end, where they were).
        ours = argv[1:]
        for argument in reversed(extra):
            if argument in ours:
                del ours[len(ours) - 1 - ours[::-1].index(argument)]
        return (
            f"{message}; arguments for the script go after --: "
            f"shapetrace run {shlex.join(ours) or 'SCRIPT'} -- {shlex.join(extra)}"
        )
    return message


def entry_point() -> None:
    sys.exit(main())
