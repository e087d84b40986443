"""How long ``dot`` takes against a graph's layout size: the measurement behind
``MAX_LAYOUT_SIZE`` (shapetrace/render/graph/size.py), the size past which
``t.graph()`` refuses with ``GraphTooLargeError``.

    python benchmarks/graph_size.py            # writes benchmarks/graph_size.md
    python benchmarks/graph_size.py --quick --output -   # fewer sizes, printed only

Three families of real traces, drawn unfolded (``collapse=False``) so their
size grows with one parameter: a chain of layers (nodes, hardly any edge
crossing a rank), GPT-2-like residual blocks (skip edges over each block),
and pytorch/examples' ``time_sequence_prediction`` loop with its ops drawn
(``split`` into every step, every step into one ``cat``: virtual nodes
everywhere, what made ``dot`` run for minutes). Each graph's layout size is
``layout_size`` of its drawn edges, the number ``trace_graph`` checks; its time
is the CPU seconds of one ``dot -Tsvg`` child (CPU, not wall-clock: the
machine is shared, and another process's load does not add to this count).
A run past ``--timeout`` seconds is stopped and shown as such.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import shapetrace  # noqa: E402
from shapetrace.render.graph.digraph import _draw  # noqa: E402
from shapetrace.render.graph.size import MAX_LAYOUT_SIZE  # noqa: E402

BEGIN, END = "<!-- graph-size: begin -->", "<!-- graph-size: end -->"
LOAD = os.getloadavg()  # the machine's load when the run started (CPU seconds vary little with it)
# The budget MAX_LAYOUT_SIZE keeps: dot lays the graph out "in a few seconds".
BUDGET_S = 3.0


def _chain(n: int) -> shapetrace.Trace:
    model = nn.Sequential(*(nn.Linear(8, 8) for _ in range(n)))
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randn(2, 8))
    return t


def _blocks(n: int) -> shapetrace.Trace:
    from tests.models.graph_models import ResidualBlocks

    model = ResidualBlocks(blocks=n)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 8))
    return t


def _loop(steps: int) -> shapetrace.Trace:
    from tests.models.graph_models import TimeSequence

    torch.manual_seed(0)
    model = TimeSequence().double()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, steps, dtype=torch.float64), future=0)
    return t


# family -> (what the parameter is, trace maker, the graph's options, parameters)
FAMILIES = {
    "chain of Linear layers": ("layers", _chain, {"ops": False}, [200, 400, 800, 1000, 1200, 1400, 1600, 2000]),
    "residual blocks, ops drawn": ("blocks", _blocks, {"ops": True}, [50, 150, 250, 300, 350, 400]),
    "time_sequence_prediction loop, ops drawn": ("steps", _loop, {"ops": True}, [10, 20, 30, 35, 40, 45, 50]),
}


def _dot_seconds(source: str, timeout: float) -> float | None:
    """CPU seconds of ``dot -Tsvg`` on ``source``; None when stopped at ``timeout`` wall seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(quick: bool, timeout: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for family, (unit, make, options, values) in FAMILIES.items():
        for value in values[:3] if quick else values:
            trace = make(value)
            graph, size = _draw(trace, depth=None, collapse=False, **options)
            nodes = sum(1 for line in graph.body if " [" in line and "->" not in line and "\t" in line)
            seconds = _dot_seconds(graph.source, timeout)
            rows.append({"family": family, "unit": unit, "value": value, "nodes": nodes, "size": size, "dot": seconds})
            print(f"{family}: {unit}={value} nodes={nodes} size={size} dot={seconds}", file=sys.stderr)
            if seconds is None:  # larger ones of this family would only take longer
                break
    return rows


def fitted_limit(rows: list[dict[str, object]], budget: float = BUDGET_S) -> dict[str, int]:
    """Per family, the size at which ``dot`` would take ``budget`` CPU seconds, from a
    least-squares fit of log(seconds) on log(size) (a power law) over its runs of
    0.1 s or more (below that, dot's start-up dominates); stopped runs count as
    at least ``budget``, so they are left out of the fit and only cap it."""
    limits: dict[str, int] = {}
    for family in dict.fromkeys(str(row["family"]) for row in rows):
        points = [
            (math.log(float(row["size"])), math.log(float(row["dot"])))  # type: ignore[arg-type]
            for row in rows
            if row["family"] == family and row["dot"] is not None and float(row["dot"]) >= 0.1  # type: ignore[arg-type]
        ]
        if len(points) < 2:
            continue
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
        limits[family] = int(math.exp(mean_x + (math.log(budget) - mean_y) / slope))
    return limits


def section(rows: list[dict[str, object]], timeout: float) -> str:
    def shown(seconds: object) -> str:
        return f"stopped after {timeout:.0f} s wall" if seconds is None else f"{seconds:.2f} s"

    within = [row["size"] for row in rows if row["dot"] is not None and row["dot"] <= BUDGET_S]  # type: ignore[operator]
    over = [row["size"] for row in rows if row["dot"] is None or row["dot"] > BUDGET_S]  # type: ignore[operator]
    lines = [
        BEGIN,
        "## Graph size against dot's time (the `GraphTooLargeError` limit)",
        "",
        f"- {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python benchmarks/graph_size.py`; "
        f"Graphviz dot -Tsvg, CPU seconds of the dot process, one run each",
        f"- Python {platform.python_version()}, torch {torch.__version__}, shapetrace {shapetrace.__version__}; "
        f"load average {LOAD[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs",
        "- size: nodes plus the virtual nodes of edges crossing ranks (`layout_size`, what `t.graph()` checks "
        f"against `MAX_LAYOUT_SIZE` = {MAX_LAYOUT_SIZE})",
        "",
        "| graph (drawn unfolded) | parameter | nodes | size | dot |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        where = f"{row['unit']} {row['value']}"
        lines.append(f"| {row['family']} | {where} | {row['nodes']} | {row['size']:,} | {shown(row['dot'])} |")
    limits = fitted_limit(rows)
    fits = ", ".join(f"{family} {size:,}" for family, size in limits.items())
    lines += [
        "",
        f"Largest size laid out within {BUDGET_S:.0f} s: {max(within, default=0):,}; "
        f"smallest over it: {min(over, default=0):,}. Size at {BUDGET_S:.0f} s by a power-law fit per family: "
        f"{fits}; the smallest, {min(limits.values(), default=0):,}, rounded down to hundreds, is "
        "`MAX_LAYOUT_SIZE`. Node count alone does not predict the time (the loop's few nodes with many "
        "rank-crossing edges cost as much as a chain's many); the layout size does, across the three families.",
        END,
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the rest."""
    old = path.read_text() if path.exists() else "# shapetrace benchmarks\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the three smallest sizes of each family")
    parser.add_argument("--timeout", type=float, default=60.0, help="stop a dot run after this many seconds")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "graph_size.md"), help="file, or - to print")
    options = parser.parse_args(argv)
    if shutil.which("dot") is None:
        print("graph_size: Graphviz's dot is not installed", file=sys.stderr)
        return 1
    text = section(measure(options.quick, options.timeout), options.timeout)
    if options.output == "-":
        print(text)
    else:
        write(Path(options.output), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
