"""Benchmark shapetrace against a naive hook loop and its peers (issue 8).

    python benchmarks/bench.py                 # the full table, ~15 minutes
    python benchmarks/bench.py --smoke         # tiny sizes, seconds, one process (CI)
    python benchmarks/bench.py --output PATH   # write the report elsewhere
    python benchmarks/bench.py --clock wall --threads 0   # on a quiet machine
    python benchmarks/bench.py --real          # real models (the `real` extra), one row at a
                                               # time: see real_bench.py and benchmarks/README.md

Replaces its own section of ``benchmarks/results.md`` (sections.py), leaving the
other benchmarks' sections, and prints the file. Each (model, tool) pair runs in
a process of its own, forked and cut after ``--model-timeout`` seconds (in the
smoke run, all in this one), and each model's row is written as soon as it is
measured (``real_bench.measure_rows``, as ``--real`` does): an interrupted run
keeps its rows. A peer that is not installed, or fails to import, is skipped; the
table says which (with its import error in one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `demos` importable
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks import measure, real_bench, report, sections  # noqa: E402
from benchmarks.models import CASES  # noqa: E402
from benchmarks.real_cases import REAL_CASES  # noqa: E402
from benchmarks.tools import TOOLS, available  # noqa: E402

# Seconds of alternating runs per tool and model.
_BUDGET_S = {False: 20.0, True: 0.2}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.real:
        if args.model_timeout is None:
            args.model_timeout = real_bench.DEFAULT_MODEL_TIMEOUT_S
        return real_bench.run(args)
    args.cases = args.cases or list(CASES)
    args.tools = args.tools or list(TOOLS)
    tools = [tool for tool in args.tools if tool in TOOLS]
    measured = [tool for tool in tools if available(tool)]
    ratios: dict[str, dict] = {tool: {} for tool in measured}
    sizes: dict[str, dict] = {}
    done: list[str] = []

    def add_row(key: str, cells: dict[str, dict]) -> None:
        for tool, cell in cells.items():
            rss = cell.pop("max_rss_mb", None)
            ratios[tool][key] = cell
            if rss is not None:  # the peak over the processes that measured this tool
                peak = ratios[tool].setdefault("max_rss_mb", {"value": rss})
                peak["value"] = max(peak["value"], rss)
        # The row's label and sizes come from shapetrace's own trace: a peer that
        # cannot run the model (torchlens on meta tensors) leaves them standing.
        if "error" not in cells.get("shapetrace", {"error": "not measured"}):
            sizes.update(measure.trace_size([key], args.smoke, loop=False))
        done.append(key)
        _write(args, ratios, sizes, None, tools, done, pending=len(args.cases) - len(done))

    def skip(key: str, why: str) -> None:  # a model that does not build: a failing cell per tool
        add_row(key, {tool: {"error": why} for tool in measured})

    budget = _budget(args)
    if args.model_timeout is None:  # a cell's timed rounds, the model's build and its trace
        args.model_timeout = max(600.0, 30 * budget)
    real_bench.measure_rows(args.cases, measured, args, budget, add_row, skip, smoke=args.smoke)
    sizes.update(measure.trace_size([], args.smoke))  # the loop's row
    script = None if args.no_script else measure.script_mode(args.smoke, 1 if args.smoke else 7, args.clock)
    print(_write(args, ratios, sizes, script, tools, done, pending=0))
    return 0


def _write(
    args: argparse.Namespace,
    ratios: dict[str, dict],
    sizes: dict[str, dict],
    script: dict | None,
    tools: list[str],
    done: list[str],
    *,
    pending: int,
) -> str:
    """Replace this run's section of ``args.output`` with the rows measured so far."""
    text = report.render(ratios, sizes, script, smoke=args.smoke, tools=tools, case_keys=done, clock=args.clock)
    title, body = text.split("\n", 1)
    if pending:
        body = f"\n**in progress**: {len(done)} of {len(done) + pending} models measured\n{body}"
    if title != sections.TITLE:  # the smoke run's title says so: kept inside its section
        body = f"{title.replace('# ', '**', 1)}**\n{body}"
    # Only this run's section is replaced: the other benchmarks' stay as they were.
    return sections.replace_section(args.output, "bench", body)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and budgets: checks the script runs")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results.md")
    parser.add_argument("--cases", nargs="+", choices=[*CASES, *REAL_CASES])
    parser.add_argument(
        "--real",
        action="store_true",
        help="the real models (Hugging Face, neuralforecast, nn.Transformer, torchvision-style), one row at a "
        "time, in their own section of the output file and the README's summary",
    )
    parser.add_argument("--tools", nargs="+", metavar="TOOL", help="any of: " + ", ".join(TOOLS))
    parser.add_argument(
        "--budget",
        type=float,
        help=f"seconds of timed runs per tool and model (default {_BUDGET_S[False]:g}; "
        f"--real: {real_bench.DEFAULT_BUDGET_S:g})",
    )
    parser.add_argument(
        "--model-timeout",
        type=float,
        help="seconds (wall clock) one tool may take on one model, its process included, before its cell "
        f"reads 'timed out' (default --real: {real_bench.DEFAULT_MODEL_TIMEOUT_S:g}; else 30 × the budget, "
        "at least 600)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="--real: measure nothing; render the section and the README summary again from results_real.json",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=ROOT / "README.md",
        help="--real: the README whose marked goal summary is rewritten from the results",
    )
    parser.add_argument("--no-script", action="store_true", help="skip the script-mode measurement")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="time runs by the process's CPU time (default: steady on a shared machine) or by wall-clock time",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch's intra-op threads (default 1: idle OpenMP threads spin, and their "
        "CPU time would count; 0 keeps torch's default, for --clock wall)",
    )
    return parser


def _budget(args: argparse.Namespace) -> float:
    return args.budget if args.budget is not None else _BUDGET_S[args.smoke]


if __name__ == "__main__":
    sys.exit(main())
