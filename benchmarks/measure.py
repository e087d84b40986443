"""What one worker process measures: a tool's traced/plain ratios, and
shapetrace's trace size and script-mode cost.

Each (model, tool) pair runs in a process of its own (``real_bench.measure_rows``):
a peer that patches torch globally (torchlens wraps its functions) cannot slow
the plain runs of another tool.
"""

from __future__ import annotations

import functools
import gc
import resource
import tempfile
import tracemalloc
from pathlib import Path

import torch
from torch import nn

import shapetrace
from benchmarks.models import CASES
from benchmarks.real_cases import REAL_CASES
from benchmarks.timing import CLOCKS, compare
from benchmarks.tools import TOOLS, release
from shapetrace.record.script import run_script


def tool_ratios(tool: str, case_keys: list[str], smoke: bool, budget_s: float, clock: str) -> dict[str, dict]:
    """``{case: {plain_s, traced_s, ratio, rounds}}``, or ``{case: {error}}``."""
    run = TOOLS[tool][0]
    results: dict[str, dict] = {}
    for key in case_keys:
        try:
            case = {**CASES, **REAL_CASES}[key](smoke)
            timing = compare(
                case.forward,
                functools.partial(run, case),
                budget_s=budget_s,
                min_rounds=1 if smoke else 5,
                quick=smoke,
                clock=clock,
            )
        except Exception as exc:  # a peer that cannot trace this model
            results[key] = {"error": f"{type(exc).__name__}: {_first_line(exc)}"}
            continue
        results[key] = {
            "plain_s": timing.plain_s,
            "traced_s": timing.traced_s,
            "ratio": timing.ratio,
            "rounds": timing.rounds,
        }
        if tool.startswith("shapetrace"):
            trace = run(case)
            assert isinstance(trace, shapetrace.Trace)
            results[key]["events"] = len(trace.calls)
    release(tool)
    return results


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else ""


# ------------------------------------------------------------------ memory
class _Loop(nn.Module):
    """A Linear applied ``steps`` times, then a relu: two events per step."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        for _ in range(self.steps):
            x = torch.relu(self.fc(x))
        return x


def trace_size(case_keys: list[str], smoke: bool, *, loop: bool = True) -> dict[str, dict]:
    """Bytes the finished Trace holds per event (tracemalloc), per model, and, with
    ``loop`` (default True) and no real model among them, for a 50k-event loop."""
    sizes = {}
    for key in case_keys:
        try:
            case = {**CASES, **REAL_CASES}[key](smoke)
        except ModuleNotFoundError as exc:  # a real model whose library is missing
            sizes[key] = {"label": key, "error": str(exc)}
            continue
        sizes[key] = {"label": case.label, **_measured_size(case.model, case.inputs, case.inference, case.kwargs)}
    if not loop or any(key in REAL_CASES for key in case_keys):
        return sizes  # the real models' table: no loop row
    loop = _measured_size(_Loop(500 if smoke else 50_000), (torch.randn(4, 16),), False)
    sizes["loop"] = {"label": f"Linear + relu in a Python loop, {loop['events']:,} events", **loop}
    return sizes


def _measured_size(model: nn.Module, inputs: tuple, inference: bool, kwargs: dict | None = None) -> dict:
    def traced() -> shapetrace.Trace:
        with torch.inference_mode(inference), shapetrace.trace(model) as t:
            model(*inputs, **(kwargs or {}))
        return t

    traced()  # warm the caches (source lines, op names) outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        t = traced()
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    events = len(t.calls)
    return {"events": events, "bytes_per_event": held / events, "held_mb": held / 2**20, "peak_mb": peak / 2**20}


# ------------------------------------------------------------- script mode
_TRAINING_SCRIPT = '''\
"""The article's forecaster trained for {steps} steps on synthetic batches."""
import torch
from torch import nn
from demos.lstm_forecaster import LSTM

torch.manual_seed(0)
model = LSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)
loss_function = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range({steps}):
    x, y = torch.randn(5, 30), torch.randn(5, 1)
    loss = loss_function(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
'''


def script_mode(smoke: bool, rounds: int, clock: str) -> dict:
    """Medians of the training script run plainly and under ``run_script``, alternating."""
    steps = 5 if smoke else 1000
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "train.py"
        script.write_text(_TRAINING_SCRIPT.format(steps=steps))
        if not smoke:
            _run_plain(str(script))  # warm up: the first optimizer step imports torch._dynamo (~1 s)
        plain: list[float] = []
        traced: list[float] = []
        for index in range(rounds):
            order = [(plain, _run_plain), (traced, _run_traced)]
            for times, run in order if index % 2 == 0 else reversed(order):
                gc.collect()
                start = CLOCKS[clock]()
                run(str(script))
                times.append(CLOCKS[clock]() - start)
    plain_s, traced_s = sorted(plain)[len(plain) // 2], sorted(traced)[len(traced) // 2]
    return {"steps": steps, "plain_s": plain_s, "traced_s": traced_s, "ratio": traced_s / plain_s, "rounds": rounds}


def _run_plain(path: str) -> None:
    import runpy

    runpy.run_path(path, run_name="__main__")


def _run_traced(path: str) -> None:
    result = run_script(path)
    if result.exit_code != 0:
        raise RuntimeError(f"the training script failed under run_script: {result.error!r}")
