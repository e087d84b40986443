"""``shapetrace run`` under torchrun: a report per rank, one merged summary.

Ranks print nothing side by side: each writes its report to its own file
(``trace.rank{R}.txt`` beside ``trace.rank{R}.json``, or ``-o``'s path with
``.rank{R}`` before the suffix) and its error to stderr with every line
labelled ``[rank R]``. Each then posts a one-line summary to the run's store;
rank 0 waits for all of them, prints its own report and the merged summary,
with the first call whose shapes differ across ranks when the traces are on
its disk. The other ranks wait until rank 0 has printed, so that torchrun,
which stops the survivors once one rank exits with an error, cuts nothing off.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
import traceback

from rich.text import Text

from shapetrace.cli.options import judge, view_of
from shapetrace.cli.outputs import plan_outputs, write_outputs
from shapetrace.core.serialize import load
from shapetrace.core.trace import Trace
from shapetrace.errors import ShapetraceError
from shapetrace.record.dist_check import run_store, store_prefix
from shapetrace.record.distributed import RankInfo, rank_path
from shapetrace.record.recorder import error_text
from shapetrace.record.script import ScriptRun
from shapetrace.render.report import make_console, report

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
SUMMARY_WAIT_S = 60.0  # how long rank 0 waits for the others' summaries


def labelled(text: str, info: RankInfo) -> str:
    return "".join(f"{info.label} {line}\n" for line in text.rstrip("\n").splitlines())


def print_rank_error(error: BaseException, script: str, info: RankInfo) -> None:
    """The traceback from the user's frames on, each line labelled, in one write."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    report = traceback.TracebackException(type(error), error, tb or error.__traceback__)
    # shapetrace's own frames (the collective's wrapper, the check) are not the user's business.
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack if not frame.filename.startswith(_PACKAGE)]
    )
    text = "".join(report.format())
    sys.stderr.write(labelled(text, info))
    sys.stderr.flush()


def _rank_output(output: str | None, directory: str, rank: int) -> str:
    if output is None:
        return rank_path(directory, rank, ".txt")
    stem, suffix = os.path.splitext(output)
    return f"{stem}.rank{rank}{suffix}"


def finish_rank(result: ScriptRun, options: argparse.Namespace, script: str) -> int:
    """Report one rank's run; rank 0 also prints the merged summary. Returns the exit code."""
    session = result.dist
    assert session is not None
    info, trace = session.info, result.trace
    if result.error is not None and not isinstance(result.error, KeyboardInterrupt):
        print_rank_error(result.error, script, info)
    directory = options.dist_dir
    path = _rank_output(options.output, directory, info.rank)
    write_outputs(trace, plan_outputs(options.format, path), view_of(options))
    code = result.exit_code or judge(trace.findings, options.fail_on)
    summary = {
        "rank": info.rank,
        "exit": code,
        "report": path,
        "error": error_text(result.error) if result.error is not None else None,
        "findings": [f"{f.code} {f.name}: {f.message}" for f in trace.findings],
        "calls": len(trace.calls),
    }
    _share_summaries(info, summary, trace, options)
    return code


def _share_summaries(info: RankInfo, summary: dict, trace: Trace, options: argparse.Namespace) -> None:
    store = None
    with contextlib.suppress(Exception):  # no store: every rank has written its own files anyway
        import torch.distributed as dist

        base = run_store()
        store = dist.PrefixStore(store_prefix() + "summary", base) if base is not None else None
    if store is None:
        if info.rank == 0:
            _print_summary(info, [summary], trace, options)
        return
    wait = datetime.timedelta(seconds=SUMMARY_WAIT_S)
    store.set(str(info.rank), json.dumps(summary))
    if info.rank != 0:
        with contextlib.suppress(Exception):
            store.wait(["printed"], wait)
        return
    summaries = []
    for rank in range(info.world_size):
        try:
            store.wait([str(rank)], wait)
            summaries.append(json.loads(store.get(str(rank))))
        except Exception:  # a rank that died before it could say anything
            summaries.append(
                {
                    "rank": rank,
                    "exit": None,
                    "error": "no summary (the rank did not finish)",
                    "findings": [],
                    "report": None,
                    "calls": None,
                }
            )
    try:
        _print_summary(info, summaries, trace, options)
    finally:
        with contextlib.suppress(Exception):
            store.set("printed", "1")


def _print_summary(info: RankInfo, summaries: list[dict], trace: Trace, options: argparse.Namespace) -> None:
    console = make_console()
    if options.output is None and not options.format:
        console.print(report(trace, ops=not options.no_ops, depth=options.depth))
    console.print(
        Text(
            f"shapetrace: {info.world_size} ranks; traces in "
            f"{rank_path(options.dist_dir, 0)} ... {rank_path(options.dist_dir, info.world_size - 1)}",
            "bold",
        )
    )
    for summary in summaries:
        label = f"[rank {summary['rank']}]"
        state = "did not finish" if summary["exit"] is None else f"exit {summary['exit']}"
        line = f"{label} {state}, {len(summary['findings'])} finding(s)"
        if summary.get("error"):
            line += f"; {summary['error'].splitlines()[0][:300]}"
        console.print(Text(line))
        for finding in summary["findings"]:
            console.print(Text(f"{label}   {finding[:300]}"))
    divergence = _divergence_on_disk(options.dist_dir, info.world_size)
    if divergence is not None:
        console.print(Text(f"first divergence across ranks: {divergence.text()}", "bold red"))
        console.print(Text(f"help: {divergence.hint}"))


def _divergence_on_disk(directory: str, world_size: int):  # -> RankDivergence | None
    paths = [rank_path(directory, rank) for rank in range(world_size)]
    if world_size < 2 or not all(os.path.isfile(path) for path in paths):
        return None
    try:
        traces = [load(path) for path in paths]
    except ShapetraceError:
        return None
    from shapetrace.analyze.rank_diff import first_divergence

    return first_divergence(traces)
