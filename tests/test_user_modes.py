"""A user's torch function mode, torch dispatch mode or tensor subclass sees
the same calls traced as untraced: shapetrace's own metadata reads (module
hooks, ops, losses, the model's facts) go past them, and the user's ops still
reach them. Each check runs the program untraced first: that list is the
expected one, never one shapetrace made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import shapetrace

ROOT = Path(__file__).resolve().parent.parent


def _name(func) -> str:
    return getattr(func, "__name__", str(func))


class FunctionLog(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(_name(func))
        return func(*args, **(kwargs or {}))


class DispatchLog(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


class Logged(torch.Tensor):
    """A subclass whose ``__torch_function__`` logs every call made on it."""

    names: ClassVar[list[str]] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.names.append(_name(func))
        return super().__torch_function__(func, types, args, kwargs or {})


class Gate(nn.Module):  # the user's own module: ops recorded inside it
    def forward(self, x):
        return x * torch.sigmoid(x.mean(-1, keepdim=True))


class Net(nn.Module):
    """Enters ``self.mode`` (when set) around its forward's body."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 8)
        self.norm = nn.LayerNorm(8)
        self.gate = Gate()
        self.out = nn.Linear(8, 3)
        self.mode = None

    def forward(self, x):
        if self.mode is None:
            return self._body(x)
        with self.mode:
            return self._body(x)

    def _body(self, x):
        h = self.gate(self.norm(self.lin(x)).relu())
        return self.out(h.view(h.shape[0], -1)).softmax(-1)


def _step(model: Net, x: torch.Tensor, target: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), target)
    loss.backward()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 6), torch.tensor([0, 2, 1, 0])


def _traced(ops, block):
    model = Net()
    if ops is None:
        block(model)
        return
    with shapetrace.trace(model, ops=ops) as t:
        block(model)
    assert t.calls and any(call.kind == "module" for call in t.calls)


SETTINGS = [True, False, "all"]


@pytest.mark.parametrize("ops", SETTINGS)
@pytest.mark.parametrize("log", [FunctionLog, DispatchLog])
def test_a_mode_entered_in_the_forward_sees_only_the_users_calls(ops, log) -> None:
    x, target = _inputs()
    seen = {}
    for setting in (None, ops):
        def block(model, setting=setting):
            model.mode = log()
            _step(model, x, target)
            seen[setting] = model.mode.names
        _traced(setting, block)
    assert seen[None], "the untraced run saw calls"
    assert seen[ops] == seen[None]


@pytest.mark.parametrize("ops", SETTINGS)
@pytest.mark.parametrize("log", [FunctionLog, DispatchLog])
def test_a_mode_around_the_traced_step_sees_only_the_users_calls(ops, log) -> None:
    x, target = _inputs()
    seen = {}
    for setting in (None, ops):
        mode = log()

        def block(model, mode=mode):
            with mode:
                _step(model, x, target)

        _traced(setting, block)
        seen[setting] = mode.names
    assert "linear" in seen[None] or "aten.addmm.default" in seen[None]
    assert seen[ops] == seen[None]


@pytest.mark.parametrize("ops", SETTINGS)
def test_a_tensor_subclass_sees_only_the_users_calls(ops) -> None:
    x, target = _inputs()
    seen = {}
    for setting in (None, ops):
        Logged.names = []
        _traced(setting, lambda model: _step(model, x.as_subclass(Logged), target))
        seen[setting] = Logged.names
    assert "linear" in seen[None] and "relu" in seen[None]
    assert seen[ops] == seen[None]


def test_a_mode_entered_by_the_trace_is_shown_the_ops_of_the_model() -> None:
    """Not vacuous: the traced run's mode sees every op of the forward (it is
    not hidden from the user's mode along with shapetrace's reads)."""
    x, _ = _inputs()
    model = Net()
    model.mode = FunctionLog()
    with shapetrace.trace(model) as t:
        model(x)
    recorded = [call.name for call in t.calls if call.kind == "op"]
    assert {"mean", "sigmoid", "mul", "relu", "view", "softmax"} <= set(recorded)
    assert {"mean", "sigmoid", "mul", "relu", "view", "softmax", "linear", "layer_norm"} <= set(model.mode.names)


SCRIPT = """
import json, sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

class FunctionLog(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.names = []
    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))

class DispatchLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))

class Logged(torch.Tensor):
    names = []
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.names.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 8)
        self.out = nn.Linear(8, 3)
        self.mode = None
    def forward(self, x):
        with self.mode:
            h = self.lin(x).relu()
            return self.out(h * h.mean(-1, keepdim=True))

torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, target = torch.randn(4, 6), torch.tensor([0, 2, 1, 0])
seen = {}
for log in (FunctionLog, DispatchLog):
    for step in range(2):
        model.mode = log()
        loss = F.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen[f"{log.__name__}{step}"] = model.mode.names
outer = FunctionLog()
with outer:
    loss = F.cross_entropy(model(x), target)
    loss.backward()
seen["outer"] = outer.names
model.mode = FunctionLog()  # (inert: the subclass logs)
loss = F.cross_entropy(model(x.as_subclass(Logged)), target)
loss.backward()
seen["subclass"] = Logged.names
json.dump(seen, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("ops", [[], ["--no-ops"]])
def test_under_shapetrace_run_the_users_modes_see_what_they_see_under_python(tmp_path, ops) -> None:
    script = tmp_path / "modes.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    plain = subprocess.run([sys.executable, str(script), str(tmp_path / "plain.json")], env=env,
                           capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-3000:]
    traced = subprocess.run([sys.executable, "-m", "shapetrace", "run", *ops, str(script),
                             str(tmp_path / "traced.json"), "-o", str(tmp_path / "report.json"), "-f", "json"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert traced.returncode == 0, traced.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["calls"], "the script's passes were recorded"
    expected = json.loads((tmp_path / "plain.json").read_text())
    assert all(expected.values()), expected
    assert json.loads((tmp_path / "traced.json").read_text()) == expected
