"""A model PyTorch runs again on its own is no pass of the user's program.

``tests/real_scripts/replays_small.py`` trains blocks under activation
checkpointing (each recomputed in the backward pass, by either checkpoint),
then exports the model with ``torch.jit.trace`` (which runs it with traced
sizes), ``torch.compile`` and ``torch.export`` (which runs it on fake
tensors). Under ``shapetrace run`` it prints and exits as under python, and
the report holds the program's passes only: no recomputation (which read as
a failed call, ``✗ _StopRecomputationError``), no pass with ``tensor(1)``
for a size, and export works (our op mode broke its graph).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import shapetrace
from tests.case_support import REAL_SCRIPTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REAL_SCRIPTS / "replays_small.py"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("flags", [[], ["--reentrant"]], ids=["checkpoint", "reentrant-checkpoint"])
def test_replays_are_left_out_and_the_script_runs_as_under_python(tmp_path, flags) -> None:
    plain = _run([sys.executable, str(SCRIPT), *flags], tmp_path)
    assert plain.returncode == 0, plain.stderr[-3000:]
    report = tmp_path / "report.json"
    traced = _run([sys.executable, "-m", "shapetrace", "run", str(SCRIPT), "-o", str(report), "--", *flags], tmp_path)
    assert traced.returncode == 0, traced.stderr[-3000:]
    assert traced.stdout == plain.stdout  # export agrees, as it does untraced
    # Nothing more on stderr but shapetrace's own line: no warning of torch.compile
    # about global hooks, which only ours were.
    assert [line for line in traced.stderr.splitlines() if not line.startswith("shapetrace: ")] == (
        plain.stderr.splitlines())
    trace = shapetrace.load(str(report))
    assert [call.name for call in trace.calls if call.error] == []
    sizes = [dim for call in trace.calls for meta in (*call.inputs, *call.outputs) for dim in meta.shape]
    assert all(type(dim) is int for dim in sizes)
    # The training pass (batch 4) once: its checkpointed blocks were not taken
    # for a second pass when the backward pass recomputed them.
    blocks = [call.inputs[0].shape[0] for call in trace.calls if call.name == "blocks.0"]
    assert blocks.count(4) == 1, blocks
    # The model the program called itself: trained, checked after jit.trace and
    # compile; and no module export made (its Wrapper) on fake tensors.
    roots = [(call.type, call.inputs[0].shape) for call in trace.roots if call.kind == "module"]
    assert ("Net", (4, 1, 6, 6)) in roots and ("Net", (2, 1, 6, 6)) in roots
    assert "Wrapper" not in {call.type for call in trace.calls}


def test_a_recomputed_block_is_no_call_under_the_trace_api() -> None:
    """``trace(model)`` around a training step with checkpointed blocks: each
    block is recorded once, by the forward pass, and no op of its
    recomputation joins the ops of the ``with`` block."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

        def forward(self, x):
            for block in self.blocks:
                x = checkpoint(lambda h, block=block: F.relu(block(h)) * 2, x, use_reentrant=False)
            return x

    model, x = Net(), torch.randn(3, 4)
    with shapetrace.trace(model) as t:
        model(x).sum().backward()
    assert [c.name for c in t.calls if c.kind == "module"] == ["", "blocks.0", "blocks.1"]
    assert [c.name for c in t.ops].count("relu") == 2  # the forward's, not the recomputation's
    assert all(c.error is None for c in t.calls)
