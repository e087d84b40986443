"""How the views cope with a long loop (issue 18): pytorch/examples'
``time_sequence_prediction`` (demos/time_sequence_prediction.py), two
``LSTMCell``s and a ``Linear`` stepped 999 + 1,000 times, traced as
``shapetrace run`` traces it.

    python benchmarks/loop_views.py            # writes its section of benchmarks/results.md
    python benchmarks/loop_views.py --steps 200 --output -   # a quick look, printed only

Targets: the graph built and laid out by ``dot`` in under 10 s; the text
report under 60 lines. Times are CPU seconds of one run each (this process's,
plus the ``dot`` child's): wall-clock times on a shared machine vary with
others' load.
"""

from __future__ import annotations

import argparse
import io
import platform
import re
import resource
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402

import shapetrace  # noqa: E402
from benchmarks.sections import markers, replace_section  # noqa: E402
from shapetrace.record.script import run_script  # noqa: E402
from shapetrace.render.report import report  # noqa: E402

DEMO = ROOT / "demos" / "time_sequence_prediction.py"
BEGIN, END = markers("loop-views")


def _clock() -> float:
    """CPU seconds of this process and its finished children (``dot``)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(steps: int) -> dict[str, object]:
    """Seconds and sizes of each view of the demo's trace."""
    started = _clock()
    trace = run_script(str(DEMO), ["--steps", str(steps)]).trace
    found: dict[str, object] = {"trace": _clock() - started, "calls": len(trace.calls)}
    text = io.StringIO()
    started = _clock()
    Console(file=text, width=160, no_color=True).print(report(trace))
    found["report"] = _clock() - started
    found["report lines"] = len(text.getvalue().splitlines())
    for ops in (True, False):
        started = _clock()
        graph = trace.graph(show_ops=ops)
        found[f"graph ops={ops}"] = _clock() - started
        found[f"graph ops={ops} nodes"] = len(re.findall(r"^\t+\w+ \[", graph.source, re.MULTILINE))
        if shutil.which("dot"):
            started = _clock()
            graph.pipe(format="svg")
            found[f"dot ops={ops}"] = _clock() - started
    started = _clock()
    annotated = trace.annotate()
    found["annotate"] = _clock() - started
    found["annotate lines"] = len(annotated.splitlines())
    text = io.StringIO()
    started = _clock()
    Console(file=text, width=100, no_color=True).print(trace.tree())
    found["tree"] = _clock() - started
    found["tree lines"] = len(text.getvalue().splitlines())
    return found


def section(steps: int, found: dict[str, object]) -> str:
    def s(key: str) -> str:
        value = found.get(key)
        return "–" if value is None else f"{value:.2f} s"

    dot_total = [
        found[f"graph ops={ops}"] + found.get(f"dot ops={ops}", 0.0)  # type: ignore[operator]
        for ops in (True, False)
    ]
    return "\n".join(
        [
            BEGIN,
            "## Loops: time_sequence_prediction (issue 18)",
            "",
            f"- {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python benchmarks/loop_views.py`"
            f" ({steps} samples: {steps - 1} steps, then {steps} predicted);"
            " CPU time (this process and dot), one run each",
            f"- Python {platform.python_version()}, torch {torch.__version__}, shapetrace {shapetrace.__version__}",
            f"- {found['calls']:,} calls traced in {s('trace')} (the script's training step and prediction)",
            "",
            "| view | time | size | target |",
            "|---|---:|---:|---|",
            f"| text report (`shapetrace run`) | {s('report')} | {found['report lines']} lines | under 60 lines |",
            f"| graph, ops drawn, + dot | {s('graph ops=True')} + {s('dot ops=True')} | "
            f"{found['graph ops=True nodes']} nodes | under 10 s: {dot_total[0]:.2f} s |",
            f"| graph, modules only, + dot | {s('graph ops=False')} + {s('dot ops=False')} | "
            f"{found['graph ops=False nodes']} nodes | under 10 s: {dot_total[1]:.2f} s |",
            f"| annotated source | {s('annotate')} | {found['annotate lines']} lines | |",
            f"| tree | {s('tree')} | {found['tree lines']} lines | |",
            "",
            "Before issue 18 a 400-step run printed 7,992 report lines (one per `cat` input) and `dot` ran over "
            "10 minutes on the 1,999-step graph without finishing.",
            END,
        ]
    )


def write(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the rest."""
    replace_section(path, "loop-views", text.removeprefix(BEGIN + "\n").removesuffix(END).strip("\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="samples per wave (default 1000, as the example)")
    parser.add_argument(
        "--output",
        default=str(ROOT / "benchmarks" / "results.md"),
        help="the results file whose section to replace; - to print only",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    text = section(args.steps, measure(args.steps))
    print(text)
    if args.output != "-":
        write(Path(args.output), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
