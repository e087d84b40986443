"""``shapetrace run``: trace a script, or a model built by a factory."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich_argparse import RawDescriptionRichHelpFormatter

from shapetrace.analyze.census import short_batch_notes
from shapetrace.analyze.collate_note import trace_data
from shapetrace.cli.child_report import report_children
from shapetrace.cli.exit_codes import EXIT_OK, EXIT_RAISED, EXIT_USAGE
from shapetrace.cli.factory import is_factory_target, trace_factory
from shapetrace.cli.input_spec import parse_input_spec, parse_vary
from shapetrace.cli.internal_error import guarded
from shapetrace.cli.options import (
    add_display_options,
    apply_project_config,
    finding_codes,
    output_plan,
    render_and_judge,
)
from shapetrace.cli.outputs import Plan
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.as_python import launched_path0
from shapetrace.record.children import Children
from shapetrace.record.distributed import rank_info
from shapetrace.record.frames import is_internal
from shapetrace.record.loader_facts import LoaderFacts
from shapetrace.record.script import DEFAULT_MAX_CALLS, module_file, run_script
from shapetrace.render.report import CHECKS_NEEDING_OPS, closing_line

DESCRIPTION = """\
Run SCRIPT (or -m MODULE) as __main__ with every nn.Module traced, then
report the first forward pass of each input signature of each model
(arguments after -- go to the script). Or build a model with
pkg.module:factory and trace one forward pass on inputs of the given shapes.

examples:
  shapetrace run train.py -- --epochs 2 --lr 1e-3
  shapetrace run -m pkg.train --no-ops --fail-on warning
  shapetrace run models:build --input 8x30x7 --device meta
  shapetrace run train.py -o report.json"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        formatter_class=RawDescriptionRichHelpFormatter,
        description=DESCRIPTION,
        help="trace a script, or a model built by pkg.module:factory",
    )
    run.add_argument(
        "target",
        metavar="SCRIPT|pkg.module:factory",
        nargs="?",
        help="a Python script (demos/lstm_forecaster.py) or a model factory (models:build)",
    )
    run.add_argument(
        "-m", dest="module", metavar="MODULE", help="run a module as a script, as python -m does (pkg.train)"
    )
    run.add_argument("script_args", nargs="*", metavar="ARG", help=argparse.SUPPRESS)
    run.add_argument(
        "--max-calls",
        type=int,
        default=None,
        metavar="N",
        help=f"scripts: record at most N passes (distinct input shapes) per model (default: {DEFAULT_MAX_CALLS})",
    )
    run.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE]",
        help="factories: one input tensor, repeatable, e.g. 5x30, 5x30x7:float64, 3x6:long",
    )
    run.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="NAME=SIZES",
        help="factories: trace at several sizes and name the dims, e.g. --input BxTx7 "
        "--vary B=8,3 --vary T=24,11 gives (B, T, 64)",
    )
    run.add_argument(
        "--device",
        default=None,
        metavar="DEVICE",
        help="factories: cpu, cuda or meta (shapes without memory or compute; default: cpu)",
    )
    run.add_argument(
        "--dist-check",
        action="store_true",
        help="under torchrun: before each of the first collectives, the ranks compare shapes and "
        "raise on every rank, naming the first call whose shapes differ across ranks",
    )
    run.add_argument(
        "--dist-dir",
        default=".",
        metavar="DIR",
        help="under torchrun: where each rank writes trace.rank{R}.json and its report (default: .)",
    )
    run.add_argument(
        "--no-op-recording",
        action="store_true",
        help=f"record module calls only, like trace(ops=False) in Python (less work on a long script; "
        f"the functional losses are still recorded); "
        f"turns off the checks "
        f"that read ops: {', '.join(CHECKS_NEEDING_OPS)}",
    )
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
    with Live(spinner, console=console, transient=True, redirect_stdout=sys.stdout.isatty(), redirect_stderr=True):
        yield


def execute(options: argparse.Namespace, script_args: list[str]) -> int:
    apply_project_config(options)
    ignore = finding_codes(options.ignore)
    if options.module is None and options.target is None:
        raise ShapetraceError("run needs a SCRIPT, a pkg.module:factory or -m MODULE")
    plan = output_plan(options)  # before the script runs: a bad -o must not wait for it
    record_ops = not options.no_op_recording
    # A program reads json/dot/svg/png from stdout: the script's own prints go to stderr.
    quiet_stdout = contextlib.redirect_stdout(sys.stderr) if plan.machine_stdout else contextlib.nullcontext()
    if options.module is None and is_factory_target(options.target):
        specs = [parse_input_spec(text) for text in options.input]
        with quiet_stdout, _progress(f"tracing {options.target}"):
            trace = trace_factory(
                options.target,
                specs,
                device=options.device or "cpu",
                ops=record_ops,
                ignore=ignore,
                vary_sizes=parse_vary(options.vary),
            )
        trace = _with_run_info(trace, {"command": options.command_line})
        if trace.error is not None:
            _print_error(trace.error, None)
        code = render_and_judge(trace, options, plan)
        return EXIT_RAISED if trace.error is not None else code

    if options.input or options.vary:
        raise ShapetraceError("--input and --vary are for pkg.module:factory targets; a script makes its own inputs")
    if options.device is not None:
        raise ShapetraceError("--device is for pkg.module:factory targets; a script puts its model on a device itself")
    if options.max_calls < 1:
        raise ShapetraceError("--max-calls must be at least 1")
    arguments = [*options.script_args, *script_args]
    if options.module is not None:
        if options.target is not None:  # `run -m pkg.train data.csv`: the script's first argument
            arguments.insert(0, options.target)
        script, shown = module_file(options.module), f"-m {options.module}"
    else:
        script, shown = os.path.abspath(options.target), options.target
        if not os.path.isfile(script):
            raise ShapetraceError(f"no such script: {options.target}")
    # As python sets them for the script: argv[0] as typed, its folder instead of the launcher's.
    run = functools.partial(
        run_script,
        script,
        arguments,
        ops=record_ops,
        max_calls=options.max_calls,
        ignore=ignore,
        module=options.module,
        shown=script if options.module else options.target,
        launched=launched_path0(),
    )
    if rank_info() is not None:  # under torchrun: a report per rank, one merged summary
        from shapetrace.cli.dist_run import finish_rank

        if not os.path.isdir(options.dist_dir):
            raise ShapetraceError(f"--dist-dir: no such directory: {options.dist_dir}")
        return finish_rank(run(dist_dir=options.dist_dir, dist_check=options.dist_check), options, script)
    with quiet_stdout, _progress(f"running {shown}"), trace_data() as data:
        result = run()
    trace = _with_run_info(result.trace, {"command": options.command_line, **_data_notes(result.trace, data.loaders)})
    if isinstance(result.error, KeyboardInterrupt):
        print("shapetrace: interrupted; reporting what was recorded", file=sys.stderr)
    elif result.error is not None:
        _print_error(result.error, script)
    code = _reported(lambda: _report(trace, result.children, options, plan, shown))
    if result.error is not None and not isinstance(result.error, KeyboardInterrupt):
        return EXIT_RAISED
    return result.exit_code or code


def _reported(report: Callable[[], int]) -> int:
    """``report()``'s exit code; the script ran, so a report that cannot be written (a
    ``ShapetraceError``: one line, ``EXIT_USAGE``; a bug of ours: ``EXIT_INTERNAL``)
    leaves the script's own exit code to win, as it does over findings."""
    try:
        return guarded("writing the report", report)
    except ShapetraceError as error:
        print(f"shapetrace: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _report(trace: Trace, children: Children, options: argparse.Namespace, plan: Plan, shown: str) -> int:
    """Write a script's report and its child processes'; the exit code the findings give
    (``render_and_judge``), 0 where nothing ran to report."""
    if not trace.calls and any(child.calls for child in children.traces):  # training in the children only
        print(
            f"shapetrace: no nn.Module ran in {shown}'s own process; its child processes' traces follow",
            file=sys.stderr,
        )
        return report_children(children, options, plan, shown)
    if not trace.calls:
        print(
            f"shapetrace: no nn.Module ran in {shown}: nothing to report (shapetrace records the modules "
            "a script calls; a factory target builds one: pkg.module:factory --input SHAPE)",
            file=sys.stderr,
        )
        report_children(children, options, plan, shown)  # (only the line on children that left no trace)
        if plan.outputs == (("table", None),):
            ending = closing_line(trace)  # how the script ended is still worth a line
            if ending:
                print(f"shapetrace: {ending}", file=sys.stderr)
            return EXIT_OK
        return render_and_judge(trace, options, plan)
    return max(render_and_judge(trace, options, plan), report_children(children, options, plan, shown))


def _data_notes(trace: Trace, loaders: list[LoaderFacts]) -> dict[str, object]:
    """``run_info["data"]``: what the loaders' short last batches did (see
    ``short_batch_notes``), and ``run_info["loaders"]``: each loader's batch size (ST001 reads it)."""
    notes = short_batch_notes(trace, loaders)
    if not notes and not loaders:
        return {}
    added: dict[str, object] = {"loaders": [loader.as_info() for loader in loaders]}
    notes = [*trace.meta.get("data", ()), *notes]  # the workers' notes the trace block made
    if notes:
        added["data"] = notes
    return added


def _with_run_info(trace: Trace, added: dict[str, object]) -> Trace:
    """The trace with ``added`` in its ``run_info`` (``"command"``: the command line that made it)."""
    return Trace(
        trace.calls, error=trace.error, ops=trace.ops_setting, ignore=trace.ignore, meta={**trace.meta, **added}
    )


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
