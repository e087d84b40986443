"""How long the report of real scripts is: the lines ``shapetrace run`` prints
for each (the header, the table and the findings, 160 columns, as
``loop_views.py`` counts them), the tree and the annotated source.

    python benchmarks/report_lines.py            # writes its section of benchmarks/results.md
    python benchmarks/report_lines.py --output - # printed only

The scripts: tests/real_scripts/ (an MNIST CNN with a short last batch and an
evaluation batch, word_language_model, the translation transformer) and
benchmarks/report_scripts/ (Hugging Face GPT-2 and BERT built from tiny
configs and trained a few steps, GPT-2 then generating; a LightningModule-style
``training_step`` without Lightning). ``BEFORE`` holds the counts measured
with this script at commit ffe2aef, before identical blocks and passes of
other batch sizes folded (render/passes.py): they are history, not rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
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

SCRIPTS = {
    "mnist_eval_small": ROOT / "tests" / "real_scripts" / "mnist_eval_small.py",
    "word_language_model_small": ROOT / "tests" / "real_scripts" / "word_language_model_small.py",
    "language_translation_small": ROOT / "tests" / "real_scripts" / "language_translation_small.py",
    "gpt2_train": ROOT / "benchmarks" / "report_scripts" / "gpt2_train.py",
    "bert_train": ROOT / "benchmarks" / "report_scripts" / "bert_train.py",
    "training_step": ROOT / "benchmarks" / "report_scripts" / "training_step.py",
}
# Measured with this script at commit ffe2aef (report, tree, annotated source lines).
BEFORE = {
    "mnist_eval_small": (43, 40, 12),
    "word_language_model_small": (60, 64, 8),
    "language_translation_small": (937, 377, 22),
    "gpt2_train": (1406, 114, 348),
    "bert_train": (312, 60, 336),
    "training_step": (29, 46, 6),
}
BEGIN, END = markers("report-lines")


def measure(path: Path) -> tuple[int, int, int]:
    """Lines of the report, the tree (100 columns) and the annotated source of the script's trace."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trace = run_script(str(path)).trace
    text = io.StringIO()
    Console(file=text, width=160, no_color=True).print(report(trace))
    tree = io.StringIO()
    Console(file=tree, width=100, no_color=True).print(trace.tree())
    return (len(text.getvalue().splitlines()), len(tree.getvalue().splitlines()), len(trace.annotate().splitlines()))


def section(found: dict[str, tuple[int, int, int]]) -> str:
    rows = []
    for name, (lines, tree, source) in found.items():
        old = BEFORE.get(name)
        before = " / ".join(f"{n:,}" for n in old) if old else "–"
        rows.append(f"| {name} | {before} | {lines:,} / {tree:,} / {source:,} |")
    return "\n".join(
        [
            BEGIN,
            "## Report length of real scripts",
            "",
            f"- {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python benchmarks/report_lines.py`",
            f"- Python {platform.python_version()}, torch {torch.__version__}, shapetrace {shapetrace.__version__}",
            "- lines of the report (160 columns) / the tree (100 columns) / the annotated source;"
            " before: commit ffe2aef, before identical blocks (`h.0-3 ×4`) and passes of other"
            " batch sizes (`(16|8|20, 1, 28, 28)`) folded",
            "",
            "| script | before | now |",
            "|---|---:|---:|",
            *rows,
            END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        default=str(ROOT / "benchmarks" / "results.md"),
        help="the results file whose section to replace; - to print only",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    text = section({name: measure(path) for name, path in SCRIPTS.items()})
    print(text)
    if args.output != "-":
        replace_section(
            Path(args.output), "report-lines", text.removeprefix(BEGIN + "\n").removesuffix(END).strip("\n")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
