"""``bench.py --real``: shapetrace and its peers on real models, one row at a time.

Each (model, tool) pair is measured in a child process of its own
(``isolate.run_isolated``) cut after ``--model-timeout`` seconds, so a peer that
hangs or crashes on one model fills one cell ("timed out after 60 s", "fails:
...") and the run goes on. After each model the run's data
(``benchmarks/results_real.json``), its section of ``results.md`` and the README's
summary are rewritten (``real_report``): an interrupted run keeps the rows it
measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks import measure, real_cases, real_report, report, sections
from benchmarks.imports import import_problem
from benchmarks.isolate import cell_text, first_line, run_isolated
from benchmarks.models import CASES
from benchmarks.tools import TOOLS, available, unavailable

# Seconds of timed rounds per (model, tool), and the wall-clock limit of its process.
DEFAULT_BUDGET_S = 1.0
DEFAULT_MODEL_TIMEOUT_S = 60.0
REAL_TOOLS = ["shapetrace", "shapetrace ops=False", "empty op mode", "torchinfo", "torchview", "torchlens"]

README_SECTION = "bench-real-goal"


def run(args: argparse.Namespace) -> int:
    """Measure ``args.cases`` (all real cases by default) with the installed tools of
    ``args.tools``; write the data, the section and the README summary after each model."""
    if args.render:
        data = json.loads(data_path(args.output).read_text())
        print(write(data, args.output, args.readme))
        return 0
    started = time.perf_counter()
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET_S
    keys = args.cases or list(real_cases.REAL_CASES)
    asked = args.tools or REAL_TOOLS
    tools = [tool for tool in asked if tool in TOOLS and available(tool)]
    data: dict = {"meta": _meta(args, budget, len(keys)), "tools": tools, "rows": [], "skipped": {}}
    data["missing_tools"] = {
        tool: unavailable(tool) if tool in TOOLS else "no such tool" for tool in asked if tool not in tools
    }

    def add_row(key: str, cells: dict[str, dict]) -> None:
        data["rows"].append({"key": key, "label": real_cases.label(key), "cells": cells})
        write(data, args.output, args.readme)

    def skip(key: str, why: str) -> None:
        data["skipped"][key] = why
        data["meta"]["total"] -= 1

    measure_rows(keys, tools, args, budget, add_row, skip)
    data["meta"]["wall_s"] = time.perf_counter() - started
    print(write(data, args.output, args.readme))
    return 0


def measure_rows(
    keys: list[str],
    tools: list[str],
    args: argparse.Namespace,
    budget: float,
    on_row: Callable[[str, dict[str, dict]], None],
    on_skip: Callable[[str, str], None],
    *,
    smoke: bool = False,
) -> None:
    """Measure each model of ``keys`` with each of ``tools`` and hand over its row
    (``on_row(key, {tool: cell})``) as soon as it is measured, so that the caller
    writes it: an interrupted run keeps the rows it measured. A model that does
    not build goes to ``on_skip(key, why)``. Each cell is measured in a child
    process cut after ``args.model_timeout`` seconds (``isolate.run_isolated``);
    with ``smoke``, in this process (tiny sizes: the CI check that it runs)."""
    callers = torch.get_num_threads()
    threads = args.threads or callers  # the children's
    if not smoke:
        torch.set_num_threads(1)  # the parent's builds start no OpenMP pool for the forks to inherit
    try:
        for key in keys:
            # Imported and built here once, before the forks: every child inherits the imports.
            why = _unbuildable(key, smoke)
            if why:
                on_skip(key, why)
                continue
            print(f"{key}:", end="", flush=True)
            cells = {}
            for tool in tools:
                cell_args = (key, tool, budget, args.clock, threads, smoke)
                cells[tool] = (
                    measure_cell(*cell_args) if smoke else run_isolated(measure_cell, cell_args, args.model_timeout)
                )
                print(f" {tool} {cell_text(cells[tool])};", end="", flush=True)
            print(flush=True)
            on_row(key, cells)
    finally:
        torch.set_num_threads(callers)


def _unbuildable(key: str, smoke: bool = False) -> str | None:
    """Why model ``key`` cannot be measured here, or None once it is built (and dropped)."""
    if key in real_cases.REAL_CASES:
        library = real_cases.library(key)
        problem = import_problem(library)
        if problem is not None:
            return f"{library} {problem}"
    try:
        {**CASES, **real_cases.REAL_CASES}[key](smoke)
    except Exception as exc:
        return f"does not build: {type(exc).__name__}: {first_line(exc)}"
    return None


def measure_cell(key: str, tool: str, budget_s: float, clock: str, threads: int, smoke: bool = False) -> dict:
    """In the child: ``tool``'s traced / plain ratio on model ``key`` (``measure.tool_ratios``),
    with the trace's size per event for shapetrace's full trace on a real model, and, on
    the default models, the process's peak resident memory (``max_rss_mb``)."""
    torch.set_num_threads(threads)
    result = measure.tool_ratios(tool, [key], smoke, budget_s, clock)[key]
    if tool == real_report.FULL and "ratio" in result and key in real_cases.REAL_CASES:
        size = measure.trace_size([key], False)[key]
        result["bytes_per_event"] = size.get("bytes_per_event")
    if key not in real_cases.REAL_CASES and not smoke:  # bench.py's default table has a peak-memory line
        result["max_rss_mb"] = measure.max_rss_mb()
    return result


def write(data: dict, output: Path, readme: Path | None) -> str:
    """Write the data beside ``output``, its section of ``output`` and the README's
    summary; returns the new text of ``output``."""
    data_path(output).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    text = sections.replace_section(output, "bench-real", real_report.section(data))
    if readme is not None and readme.exists():
        replace_readme_summary(readme, real_report.readme_summary(data))
    return text


def data_path(output: Path) -> Path:
    return output.with_name("results_real.json")


def replace_readme_summary(readme: Path, summary: str) -> None:
    """Replace the README's marked summary (left alone where the markers are missing)."""
    begin, end = sections.markers(README_SECTION)
    text = readme.read_text()
    if begin in text and end in text:
        sections.replace_section(readme, README_SECTION, summary)


def _meta(args: argparse.Namespace, budget: float, total: int) -> dict:
    command = f"python benchmarks/bench.py --real --budget {budget:g} --model-timeout {args.model_timeout:g}"
    if args.cases:
        command += " --cases " + " ".join(args.cases)
    if args.clock == "wall":
        command += " --clock wall"
    return {
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
        "commit": _commit(),
        "command": command,
        "total": total,
        "wall_s": None,
        "budget_s": budget,
        "model_timeout_s": args.model_timeout,
        "clock": "CPU time of the process" if args.clock == "cpu" else "wall-clock time",
        "threads": args.threads or torch.get_num_threads(),
        "machine": report.machine(),
        "versions": ", ".join(
            f"{name} {report.version(name)}"
            for name in ("torch", "shapetrace", "transformers", "neuralforecast", "torchinfo", "torchview", "torchlens")
        ),
    }


def _commit() -> str:
    """The checkout's short commit (``+`` when it has uncommitted changes), or ``?``."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True)
    except OSError:
        return "?"
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "") if head.returncode == 0 else "?"
