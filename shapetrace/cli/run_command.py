"""``shapetrace run``: trace a script, or a model built by a factory."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich_argparse import RichHelpFormatter

from shapetrace.analyze.census import short_batch_notes
from shapetrace.analyze.collate_note import trace_data
from shapetrace.cli.factory import is_factory_target, trace_factory
from shapetrace.cli.input_spec import parse_input_spec, parse_vary
from shapetrace.cli.options import add_display_options, finding_codes, render_and_judge
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.data_hook import LoaderFacts
from shapetrace.record.distributed import rank_info
from shapetrace.record.frames import is_internal
from shapetrace.record.script import DEFAULT_MAX_CALLS, run_script

DESCRIPTION = """\
Run SCRIPT as __main__ with every nn.Module traced, then report the first
forward pass of each input signature of each model (arguments after -- go to
the script). Or build a model with pkg.module:factory and trace one forward
pass on inputs of the given shapes."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", formatter_class=RichHelpFormatter, description=DESCRIPTION,
                              help="trace a script, or a model built by pkg.module:factory")
    run.add_argument("target", metavar="SCRIPT|pkg.module:factory",
                     help="a Python script (demos/lstm_forecaster.py) or a model factory (models:build)")
    run.add_argument("script_args", nargs="*", metavar="ARG", help=argparse.SUPPRESS)
    run.add_argument("--max-calls", type=int, default=DEFAULT_MAX_CALLS, metavar="N",
                     help=f"scripts: record at most N passes (distinct input shapes) per model "
                          f"(default: {DEFAULT_MAX_CALLS})")
    run.add_argument("--input", "-i", action="append", default=[], metavar="SHAPE[:DTYPE]",
                     help="factories: one input tensor, repeatable, e.g. 5x30, 5x30x7:float64, 3x6:long")
    run.add_argument("--vary", action="append", default=[], metavar="NAME=SIZES",
                     help="factories: trace at several sizes and name the dims, e.g. --input BxTx7 "
                          "--vary B=8,3 --vary T=24,11 gives (B, T, 64)")
    run.add_argument("--device", default="cpu", metavar="DEVICE",
                     help="factories: cpu, cuda or meta (shapes without memory or compute; default: cpu)")
    run.add_argument("--dist-check", action="store_true",
                     help="under torchrun: before each of the first collectives, the ranks compare shapes and "
                          "raise on every rank, naming the first call whose shapes differ across ranks")
    run.add_argument("--dist-dir", default=".", metavar="DIR",
                     help="under torchrun: where each rank writes trace.rank{R}.json and its report (default: .)")
    add_display_options(run)


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on a terminal's stderr while the work runs.

    The script's prints pass above it: stdout is routed through the spinner's
    console only when both streams are that same terminal, so a redirected
    stdout (``> out.txt``) still receives exactly what the script printed.
    """
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    spinner = Spinner("dots", text=f" {message}")
    with Live(spinner, console=console, transient=True, redirect_stdout=sys.stdout.isatty(),
              redirect_stderr=True):
        yield


def execute(options: argparse.Namespace, script_args: list[str]) -> int:
    ignore = finding_codes(options.ignore)
    if is_factory_target(options.target):
        specs = [parse_input_spec(text) for text in options.input]
        with _progress(f"tracing {options.target}"):
            trace = trace_factory(options.target, specs, device=options.device, ops=not options.no_ops,
                                  ignore=ignore, vary_sizes=parse_vary(options.vary))
        if trace.error is not None:
            _print_error(trace.error, None)
        code = render_and_judge(trace, options)
        return 1 if trace.error is not None else code

    if options.input or options.vary:
        raise ShapetraceError("--input and --vary are for pkg.module:factory targets; a script makes its own inputs")
    if options.max_calls < 1:
        raise ShapetraceError("--max-calls must be at least 1")
    script = os.path.abspath(options.target)
    if rank_info() is not None:  # under torchrun: a report per rank, one merged summary
        from shapetrace.cli.dist_run import finish_rank

        if not os.path.isdir(options.dist_dir):
            raise ShapetraceError(f"--dist-dir: no such directory: {options.dist_dir}")
        result = run_script(script, [*options.script_args, *script_args], ops=not options.no_ops,
                            max_calls=options.max_calls, ignore=ignore, dist_dir=options.dist_dir,
                            dist_check=options.dist_check)
        return finish_rank(result, options, script)
    with _progress(f"running {options.target}"), trace_data() as data:
        result = run_script(script, [*options.script_args, *script_args], ops=not options.no_ops,
                            max_calls=options.max_calls, ignore=ignore)
    trace = _with_data_notes(result.trace, data.loaders)
    if isinstance(result.error, KeyboardInterrupt):
        print("shapetrace: interrupted; reporting what was recorded", file=sys.stderr)
    elif result.error is not None:
        _print_error(result.error, script)
    code = render_and_judge(trace, options)
    return result.exit_code or code


def _with_data_notes(trace: Trace, loaders: list[LoaderFacts]) -> Trace:
    """The trace with ``meta["data"]``: what the loaders' short last batches did (see ``short_batch_notes``)."""
    notes = short_batch_notes(trace, loaders)
    if not notes:
        return trace
    return Trace(trace.calls, error=trace.error, ops=trace.ops_setting, ignore=trace.ignore,
                 meta={**trace.meta, "data": notes})


def _print_error(error: BaseException, script: str | None) -> None:
    """The traceback as Python prints it, from the user's own frames on."""
    tb = error.__traceback__
    if script is not None:
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
    else:  # from the model's own forward: the frames above it are shapetrace's and torch's
        while tb is not None and is_internal(tb.tb_frame.f_code):
            tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__, file=sys.stderr)
