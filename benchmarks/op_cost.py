"""The cost of recording ops on real models: an A/B of two versions of shapetrace (issue 18 item 7).

    python benchmarks/op_cost.py --before main~3 --after WORKTREE --rounds 3 --budget 3

Each round runs, in turn, one worker process per version (the order flips
every round, so neither always runs first on a warmed machine) and one for
torchinfo; a worker times plain and traced forwards alternating, by the
process's CPU time, with one intra-op thread (bench.py's method: timing.py).
A version is a git ref whose ``shapetrace/`` is exported to a temporary folder,
or ``WORKTREE``: the checkout this script is in. The models and the timing
code are this checkout's for both versions. Writes ``benchmarks/op_cost.md``
(not results.md, whose real-model table bench.py owns) and prints it.

The cost of a recorded call is (traced - plain) / calls recorded, in
microseconds; the goal (issue 18 item 7) is a full trace within 1.5x of
torchinfo's ratio and under 3x a plain forward.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `tests` importable
    sys.path.append(str(ROOT))  # after PYTHONPATH: a worker's shapetrace is its version's

WORKTREE = "WORKTREE"
CASES = ["hf-gpt2", "hf-bert", "hf-t5", "hf-llama", "hf-rwkv", "hf-mamba"]
OUTPUT = ROOT / "benchmarks" / "op_cost.md"
# The tool a version's worker runs: the full trace, or module calls only (``--ops-off``).
SHAPETRACE = {False: "shapetrace", True: "shapetrace ops=False"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        return _work(args)
    with tempfile.TemporaryDirectory() as folder:
        trees = {
            "before": _tree(args.before, Path(folder) / "before"),
            "after": _tree(args.after, Path(folder) / "after"),
        }
        runs: dict[str, list[dict]] = {"before": [], "after": [], "torchinfo": []}
        for round_index in range(args.rounds):
            order = ["before", "after"] if round_index % 2 == 0 else ["after", "before"]
            for side in [*order, "torchinfo"]:
                tree = trees["after"] if side == "torchinfo" else trees[side]
                tool = "torchinfo" if side == "torchinfo" else SHAPETRACE[args.ops_off]
                print(f"round {round_index + 1}/{args.rounds}: {side} ...", file=sys.stderr, flush=True)
                runs[side].append(_in_worker(tree, tool, args))
    text = render(runs, args)
    (OUTPUT.with_name("op_cost_modules.md") if args.ops_off else OUTPUT).write_text(text)
    print(text)
    return 0


def _tree(ref: str, folder: Path) -> Path:
    """A folder whose ``shapetrace`` package is that of ``ref``."""
    if ref == WORKTREE:
        return ROOT
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref, "shapetrace"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _in_worker(tree: Path, tool: str, args: argparse.Namespace) -> dict:
    # The version's shapetrace first; benchmarks and tests (the models) from this checkout.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(tree), str(ROOT)])), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, "--budget", str(args.budget)]
    done = subprocess.run([*command, "--cases", *args.cases], capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"worker failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _work(args: argparse.Namespace) -> int:
    import torch

    from benchmarks import measure

    torch.set_num_threads(1)
    ratios = measure.tool_ratios(args.worker, args.cases, False, args.budget, "cpu")
    import shapetrace

    ratios["_source"] = {"shapetrace": str(Path(shapetrace.__file__).parent)}
    print(json.dumps(ratios))
    return 0


def render(runs: dict[str, list[dict]], args: argparse.Namespace) -> str:
    from benchmarks.report import machine, version

    lines = [
        "# Op recording cost on real models: before / after (A/B)",
        "",
        f"`python benchmarks/op_cost.py --before {args.before} --after {args.after} "
        f"--rounds {args.rounds} --budget {args.budget}{' --ops-off' if args.ops_off else ''}`: "
        f"{args.rounds} rounds, each running one worker process "
        "per version in turn (the order flips every round) and one for torchinfo; a worker times plain and "
        f"traced forwards alternating for {args.budget} s per model, by CPU time, one intra-op thread. "
        "Each figure is the median over rounds of a worker's median. A recorded call costs "
        "(traced - plain) / calls recorded.",
        "",
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}; torch {version('torch')}, "
        f"transformers {version('transformers')}, torchinfo {version('torchinfo')}.",
        "",
        "| model | calls | plain ms | before: ratio | after: ratio | before: µs a call | after: µs a call "
        "| torchinfo ratio | after / torchinfo | goal (≤ 3×, ≤ 1.5 × torchinfo) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for key in args.cases:
        before, after, info = (_median(runs[side], key) for side in ("before", "after", "torchinfo"))
        if before is None or after is None:
            lines.append(f"| {key} | failed: {_error(runs, key)} |||||||||")
            continue
        calls = after["events"]
        info_ratio = info["ratio"] if info else float("nan")
        met = after["ratio"] <= 3 and after["ratio"] <= 1.5 * info_ratio
        lines.append(
            f"| {key} | {calls:,} | {after['plain_s'] * 1e3:.1f} | {before['ratio']:.2f}× | {after['ratio']:.2f}× "
            f"| {before['per_call_us']:.1f} | {after['per_call_us']:.1f} | {info_ratio:.2f}× "
            f"| {after['ratio'] / info_ratio:.2f} | {'met' if met else 'missed'} |"
        )
    return "\n".join(lines) + "\n"


def _median(runs: list[dict], key: str) -> dict | None:
    measured = [run[key] for run in runs if "error" not in run.get(key, {"error": ""})]
    if not measured:
        return None
    result = {field: statistics.median(run[field] for run in measured) for field in ("plain_s", "traced_s", "ratio")}
    if "events" in measured[0]:
        result["events"] = measured[0]["events"]
        result["per_call_us"] = statistics.median(
            (run["traced_s"] - run["plain_s"]) / run["events"] * 1e6 for run in measured
        )
    return result


def _error(runs: dict[str, list[dict]], key: str) -> str:
    for side_runs in runs.values():
        for run in side_runs:
            if "error" in run.get(key, {}):
                return str(run[key]["error"])[:80]
    return "no result"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="a git ref, or WORKTREE (default: main)")
    parser.add_argument("--after", default=WORKTREE, help="a git ref, or WORKTREE (default)")
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed runs per model and worker")
    parser.add_argument(
        "--ops-off",
        action="store_true",
        help="time traces with ops=False (module calls only), written to op_cost_modules.md",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one tool, print JSON
    return parser


if __name__ == "__main__":
    sys.exit(main())
