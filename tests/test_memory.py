"""Memory stays flat while tracing thousands of forward passes.

Growth is measured with tracemalloc after a warm-up: the first passes fill
caches that stop growing (source lines, op names, rich's measurements). A
leak of one record per pass would show as megabytes; the bounds allow a few
hundred bytes per pass.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator

import torch

import shapetrace
from shapetrace.record.script import run_script
from tests.models import core_models as zoo


@contextlib.contextmanager
def tracing_malloc() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def growth(passes: Callable[[int], None], warm_up: int, measured: int) -> int:
    """Bytes still allocated after ``measured`` passes that followed ``warm_up`` ones."""
    passes(warm_up)
    with tracing_malloc():
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        passes(measured)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before


def nested_passes(analyse: bool) -> Callable[[int], None]:
    """Passes of a small model, each in its own trace block; with ``analyse``,
    each trace is also diagnosed, saved, loaded, annotated and printed."""
    model = zoo.Nested()
    x = torch.randn(3, 2, 2)

    def passes(count: int) -> None:
        for _ in range(count):
            with shapetrace.trace(model) as t:
                model(x)
            assert len(t.calls) == 9
            if analyse:
                assert t.findings == []
                shapetrace.load(t.to_json()).annotate()
                t.print(file=io.StringIO())

    return passes


def test_repeated_trace_blocks_keep_memory_flat():
    assert growth(nested_passes(analyse=False), 500, 2000) < 100_000


def test_analysing_and_rendering_each_trace_keeps_memory_flat():
    assert growth(nested_passes(analyse=True), 50, 50) < 100_000


SCRIPT = """\
    import gc, json, sys, tracemalloc
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.fc(x).relu()).view(-1)

    model = Net()
    marks = {}
    for step in range(PASSES):
        model(torch.randn(1 + step % 40, 8)).sum()  # a new input shape 40 times over
        if step == WARM_UP:
            gc.collect()
            marks["warm"] = tracemalloc.get_traced_memory()[0]
    gc.collect()
    marks["end"] = tracemalloc.get_traced_memory()[0]
    with open(sys.argv[1], "w") as out:
        json.dump(marks, out)
"""


def test_a_script_running_past_max_calls_keeps_memory_flat(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT).replace("PASSES", "3000").replace("WARM_UP", "500"))
    marks_file = tmp_path / "marks.json"
    with tracing_malloc():
        result = run_script(str(script), [str(marks_file)], max_calls=3)
    assert (result.exit_code, result.error) == (0, None)
    marks = json.loads(marks_file.read_text())
    assert marks["end"] - marks["warm"] < 100_000
    assert [c.inputs[0].shape for c in result.trace.calls_of("")] == [(1, 8), (2, 8), (3, 8)]
    # the randn that made the input (outside the model: record/before_pass.py), Net, fc,
    # relu, head, view, and the .sum() that takes the output to one number (the steps of a
    # loss are recorded after a pass): nothing of the 2,997 other passes
    assert len(result.trace.calls) == 3 * 7
