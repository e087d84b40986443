"""Benchmark shapetrace against a naive hook loop and its peers (issue 8).

    python benchmarks/bench.py                 # the full table, ~15 minutes
    python benchmarks/bench.py --smoke         # tiny sizes, seconds, one process (CI)
    python benchmarks/bench.py --output PATH   # write the report elsewhere
    python benchmarks/bench.py --clock wall --threads 0   # on a quiet machine
    python benchmarks/bench.py --real          # real models (the `real` extra), one row at a
                                               # time: see real_bench.py and benchmarks/README.md

Replaces its own section of ``benchmarks/results.md`` (sections.py), leaving the
other benchmarks' sections, and prints the file. Each tool runs in a process of
its own (in the smoke run, all in this one); a peer that is not installed is
skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
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
    if args.real and not args.worker:
        return real_bench.run(args)
    args.cases = args.cases or list(CASES)
    args.tools = args.tools or list(TOOLS)
    if args.worker:
        return _work(args)
    tools = [tool for tool in args.tools if tool in TOOLS]
    measured = _in_this_process if args.smoke else _in_worker
    ratios = {tool: measured(tool, args) for tool in tools if available(tool)}
    sizes = measure.trace_size(args.cases, args.smoke)
    script = None if args.no_script else measure.script_mode(args.smoke, 1 if args.smoke else 7, args.clock)
    text = report.render(ratios, sizes, script, smoke=args.smoke, tools=tools, case_keys=args.cases, clock=args.clock)
    title, body = text.split("\n", 1)
    if title != sections.TITLE:  # the smoke run's title says so: kept inside its section
        body = f"{title.replace('# ', '**', 1)}**\n{body}"
    # Only this run's section is replaced: the other benchmarks' stay as they were.
    print(sections.replace_section(args.output, "bench", body))
    return 0


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
        default=real_bench.DEFAULT_MODEL_TIMEOUT_S,
        help="--real: seconds (wall clock) one tool may take on one model, its process included, "
        "before its cell reads 'timed out' (default %(default)g)",
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
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one tool, print JSON
    return parser


def _in_worker(tool: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        tool,
        "--clock",
        args.clock,
        "--threads",
        str(args.threads),
        "--cases",
        *args.cases,
    ]
    if args.smoke:
        command.append("--smoke")
    if args.budget is not None:
        command += ["--budget", str(args.budget)]
    print(f"measuring {tool} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {key: {"error": f"worker failed: {tail[0][:120]}"} for key in args.cases}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _in_this_process(tool: str, args: argparse.Namespace) -> dict:
    return measure.tool_ratios(tool, args.cases, args.smoke, _budget(args), args.clock)


def _work(args: argparse.Namespace) -> int:
    ratios = measure.tool_ratios(args.worker, args.cases, args.smoke, _budget(args), args.clock)
    ratios["max_rss_mb"] = {"value": measure.max_rss_mb()}
    print(json.dumps(ratios))
    return 0


def _budget(args: argparse.Namespace) -> float:
    return args.budget if args.budget is not None else _BUDGET_S[args.smoke]


if __name__ == "__main__":
    sys.exit(main())
