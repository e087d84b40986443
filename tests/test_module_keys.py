"""Modules that die during a trace: a freed module's id, given by CPython to the
next module built, must not carry the dead one's name, facts or pass filter
(a loss built each step, ``nn.CrossEntropyLoss()(out, y)``, frees a module per
step); and a parameterless module rebuilt at one line is one module to the
report (one name, its later calls counted as passes), as it is to its reader."""

from __future__ import annotations

import torch
from torch import nn

import shapetrace
from shapetrace.record.script import run_script
from shapetrace.render.sections import split_sections


def _module_calls(trace: shapetrace.Trace) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in trace.calls if c.kind == "module"]


def test_a_loss_given_a_dead_loss_id_keeps_its_own_name_under_the_api() -> None:
    net = nn.Linear(8, 4)
    x, target = torch.randn(3, 8), torch.zeros(3, 4)
    with shapetrace.trace(net) as t:
        out = net(x)
        freed = set()
        for _ in range(200):  # CPython hands a freed block to the next object of its size
            mse = nn.MSELoss()
            mse(out, target)
            freed.add(id(mse))
            del mse
            l1 = nn.L1Loss()
            if id(l1) in freed:
                l1(out, target)
                break
        else:
            raise AssertionError("no freed id was reused: the test did not set up its case")
    calls = _module_calls(t)
    assert calls[-1] == ("l1", "L1Loss")  # the variable holding it
    assert {name for name, kind in calls if kind == "MSELoss"} == {"mse"}  # rebuilt at one line: one name


REUSED_ID_SCRIPT = """
import torch
from torch import nn

net = nn.Linear(8, 4)
x, target = torch.randn(3, 8), torch.zeros(3, 4)
out = net(x)
freed = set()
for _ in range(200):
    loss = nn.MSELoss()
    loss(out, target)
    freed.add(id(loss))
    del loss
    softmax = nn.Softmax(dim=1)
    if id(softmax) in freed:
        softmax(out)
        break
else:
    raise SystemExit("no freed id was reused")
"""


def test_a_module_given_a_dead_loss_id_is_recorded_under_its_own_name(tmp_path) -> None:
    script = tmp_path / "reuse.py"
    script.write_text(REUSED_ID_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    calls = _module_calls(run.trace)
    # Before: the Softmax was named after the dead loss (``mse_loss_1: Softmax``), or
    # filtered away as a pass of it already recorded.
    assert calls == [("", "Linear"), ("loss", "MSELoss"), ("softmax", "Softmax")]


REBUILT_LOSS_SCRIPT = """
import torch
from torch import nn

net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
for step in range(20):
    x, y = torch.randn(5, 8), torch.randint(0, 4, (5,))
    loss = nn.CrossEntropyLoss()(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def test_a_loss_rebuilt_each_step_is_one_module_with_its_passes_counted(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(REBUILT_LOSS_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    roots = [c for c in run.trace.calls if c.parent is None and c.kind == "module"]
    assert [(c.name, c.type) for c in roots] == [("", "Sequential"), ("cross_entropy_loss", "CrossEntropyLoss")]
    assert run.trace.run_info["passes"] == [20, 20]


LIVE_TWINS_SCRIPT = """
import torch
from torch import nn

first, second = nn.ReLU(), nn.ReLU()
for step in range(3):
    for act in (first, second):
        act(torch.randn(2, 3))
"""


def test_two_live_modules_called_at_one_line_stay_two(tmp_path) -> None:
    script = tmp_path / "twins.py"
    script.write_text(LIVE_TWINS_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    assert _module_calls(run.trace) == [("", "ReLU"), ("act", "ReLU")]
    assert run.trace.run_info["passes"] == [3, 3]


REBUILT_LAYER_SCRIPT = """
import torch
from torch import nn

for step in range(3):
    nn.Linear(3, 2)(torch.randn(4, 3))
"""


def test_a_layer_rebuilt_with_new_parameters_is_a_new_model_each_time(tmp_path) -> None:
    script = tmp_path / "layers.py"
    script.write_text(REBUILT_LAYER_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    # Each has its own weights: three models, whatever ids CPython gave them.
    assert _module_calls(run.trace) == [("", "Linear"), ("linear", "Linear"), ("linear_1", "Linear")]


CHANGING_SETTINGS_SCRIPT = """
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(6):
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    out = model(x)
    p = nn.Softmax(dim=1 if step < 3 else 0)(out)
    loss = nn.NLLLoss()(torch.log(p), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def test_a_module_rebuilt_with_other_settings_is_another_module(tmp_path) -> None:
    """``nn.Softmax(dim=d)`` rebuilt at one line is one module while ``d`` stays, and
    another once ``d`` changes: its calls are then recorded and checked (ST019 on the
    softmax over the batch from step 3 on), not only counted as passes of the first."""
    script = tmp_path / "settings.py"
    script.write_text(CHANGING_SETTINGS_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    softmaxes = [c for c in run.trace.calls if c.type == "Softmax"]
    assert [c.config["dim"] for c in softmaxes] == [1, 0]
    assert [f.code for f in run.trace.findings if f.severity != "info"] == ["ST019"]
    assert run.trace.findings[0].call_id == softmaxes[1].id


TWO_MODELS_SCRIPT = """
import torch
from torch import nn


def train(hidden, steps=4):
    model = nn.Sequential(nn.Linear(6, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x, y = torch.randn(16, 6), torch.randn(16, 1)
        loss = nn.MSELoss()(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


train(16)
train(32)
"""


def test_each_model_a_script_trains_keeps_the_row_of_its_loss(tmp_path) -> None:
    """The loss rebuilt each step is one module, but the loss of another model (k-fold,
    a sweep) is recorded again: each model's section shows its loss; each loss's later
    passes with its own model are counted."""
    script = tmp_path / "two.py"
    script.write_text(TWO_MODELS_SCRIPT)
    run = run_script(str(script))
    assert run.exit_code == 0, run.error
    roots = [c for c in run.trace.calls if c.parent is None and c.kind == "module"]
    assert [c.type for c in roots] == ["Sequential", "MSELoss", "Sequential", "MSELoss"]
    assert {c.name for c in roots if c.type == "MSELoss"} == {"mse_loss"}
    assert run.trace.run_info["passes"] == [4, 4, 4, 4]
    sections = split_sections(run.trace).models
    # (with the ops outside the model that made each pass's input and target: record/before_pass.py)
    assert sorted([c.type for c in section.roots if c.kind == "module"] for section in sections) == [
        ["Sequential", "MSELoss"]
    ] * 2
