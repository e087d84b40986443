"""``results.md``: the measurements as tables, with the machine and versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from datetime import datetime, timezone

import torch

from benchmarks.isolate import cell_text
from benchmarks.tools import unavailable
from benchmarks.tools_line import skipped_tools_line


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def render(
    ratios: dict[str, dict],
    sizes: dict[str, dict],
    script: dict | None,
    *,
    smoke: bool,
    tools: list[str],
    case_keys: list[str],
    clock: str,
) -> str:
    lines = [
        "# shapetrace benchmarks" + (" (smoke run: tiny sizes, numbers mean nothing)" if smoke else ""),
        "",
        f"- {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python benchmarks/bench.py{' --smoke' if smoke else ''}"
        f"{' --clock wall' if clock == 'wall' else ''}`",
        "- clock: "
        + (
            "the process's CPU time (steady on a shared machine: wall-clock medians of one "
            "forward were seen to vary 3× with others' load), with one torch thread (idle "
            "OpenMP threads spin, and their CPU time would count)"
            if clock == "cpu"
            else "wall-clock time"
        ),
        f"- machine: {machine()}; torch threads: {torch.get_num_threads()}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, shapetrace {version('shapetrace')}, "
        + ", ".join(f"{name} {version(name)}" for name in ("torchinfo", "torchview", "torchlens")),
        "- method: traced forward / plain forward, both in the same process (one process per model and tool), "
        "in rounds of one plain and one traced run (plain first in even rounds) after a full "
        "garbage collection; the ratio is the median of the rounds' ratios. The traced run "
        "includes the tool's set-up and tear-down (hooks on, forward, hooks off, the trace "
        "built). shapetrace: `trace(model)`, ops and source lines on; `ops=False`: module calls "
        "only. The transformer runs in eval mode under `torch.inference_mode()`, where PyTorch "
        "fuses each encoder layer into one kernel. torchlens keeps torch's functions wrapped "
        "after its first call, as it does by default: the plain runs of its process have the "
        "wrappers too (5–10% slower), so its ratios are understated.",
        "",
        *_ratio_table(ratios, tools, case_keys, {key: size["label"] for key, size in sizes.items()}),
        "",
        *_event_table(ratios, sizes, case_keys),
    ]
    if script is not None:
        lines += ["", *_script_lines(script)]
    return "\n".join(lines) + "\n"


def _ratio_table(ratios: dict[str, dict], tools: list[str], case_keys: list[str], labels: dict[str, str]) -> list[str]:
    shown = [tool for tool in tools if tool in ratios]
    lines = [
        "## Traced / plain forward (median)",
        "",
        "| model | plain forward | " + " | ".join(shown) + " |",
        "|---|---:|" + "---:|" * len(shown),
    ]
    for key in case_keys:
        plain = next((ratios[t][key]["plain_s"] for t in shown if "plain_s" in ratios[t].get(key, {})), None)
        cells = [_ratio_cell(ratios[tool].get(key)) for tool in shown]
        lines.append(f"| {labels.get(key, key)} | {_duration(plain)} | " + " | ".join(cells) + " |")
    missing = {tool: unavailable(tool) for tool in tools if tool not in ratios}
    if missing:
        lines += ["", skipped_tools_line(missing)]
    return lines


def _ratio_cell(result: dict | None) -> str:
    """``2.35×``, ``timed out after 600 s``, ``fails: <first line>`` (``isolate.cell_text``)."""
    return cell_text(result)[:66]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _event_table(ratios: dict[str, dict], sizes: dict[str, dict], case_keys: list[str]) -> list[str]:
    lines = [
        "## Cost and size per recorded event (shapetrace, full trace)",
        "",
        "| model | events | traced − plain per event | trace size per event | trace held | peak while tracing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    timed = ratios.get("shapetrace", {})
    for key in [*case_keys, "loop"]:
        size = sizes.get(key)
        if size is None or "error" in size:
            continue
        result = timed.get(key, {})
        per_event = "–"
        if "traced_s" in result and result.get("events"):
            extra = result["plain_s"] * (result["ratio"] - 1)  # consistent with the ratio shown
            per_event = f"{extra / result['events'] * 1e6:.1f} µs" if extra > 0 else "below the noise"
        lines.append(
            f"| {size['label']} | {size['events']:,} | {per_event} | {size['bytes_per_event']:.0f} B | "
            f"{size['held_mb']:.1f} MB | {size['peak_mb']:.1f} MB |"
        )
    rss = {tool: r["max_rss_mb"]["value"] for tool, r in ratios.items() if "max_rss_mb" in r}
    if rss:
        lines += [
            "",
            "Peak resident memory of each tool's largest measuring process (one a model, forked from the "
            "runner, which holds the models' libraries): "
            + ", ".join(f"{tool} {mb:,.0f} MB" for tool, mb in rss.items())
            + ".",
        ]
    return lines


def _script_lines(script: dict) -> list[str]:
    return [
        "## Script mode",
        "",
        f"The article's forecaster trained for {script['steps']:,} steps, run with `runpy` and with "
        "`shapetrace.record.script.run_script` (default max_calls), alternating, medians of "
        f"{script['rounds']}: plain {script['plain_s']:.2f} s, traced {script['traced_s']:.2f} s, "
        f"**{script['ratio']:.3f}×**.",
    ]
