"""The cost of tracing collectives, and of --dist-check, when nothing differs.

    python benchmarks/dist_check.py        # writes benchmarks/dist_check.md

Runs benchmarks/dist_check_worker.py on two gloo ranks (loopback, CPU) three
ways: untraced, under ``shapetrace run`` (each collective recorded and the
trace written to disk first) and under ``shapetrace run --dist-check`` (the
ranks also swap a fingerprint over their own gloo group). Reports the time
per all_reduce of rank 0, median of ``--repeats`` launches.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "benchmarks" / "dist_check_worker.py"
MODES = {
    "untraced": [],
    "shapetrace run": ["-m", "shapetrace", "run"],
    "shapetrace run --dist-check": ["-m", "shapetrace", "run", "--dist-check"],
}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(mode: list[str], directory: str) -> dict[str, float]:
    out = os.path.join(directory, "timings.json")
    worker = [str(WORKER), out] if not mode else [*mode, str(WORKER), "--", out]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_port()}",
        *worker,
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(command, cwd=directory, env=env, check=True, capture_output=True, timeout=600)
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "dist_check.md"))
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    for name, mode in MODES.items():
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as directory:
                runs.append(launch(mode, directory))
        rows[name] = {size: statistics.median(run[size] for run in runs) for size in runs[0]}
    keys = list(next(iter(rows.values())))
    lines = [
        "| mode | " + " | ".join(f"{k.split(', ')[0]}: {int(k.split(', ')[1]):,} floats" for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, timing in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{timing[key] * 1e3:,.2f} ms" for key in keys) + " |")
    text = (
        "Time per all_reduce on two gloo ranks (CPU, loopback), rank 0, median of "
        f"{args.repeats} launches: inside the recording window (the first 64 collectives, each "
        "recorded, written to trace.rank{R}.json and, with --dist-check, compared) and after it.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
