"""A functional loss after passes ``shapetrace run`` left out (``record/loss_calls.py``).

``shapetrace run`` records one top-level call per input signature: an actor-critic's
episode of 20 steps, each a pass of the same shapes, is one recorded pass and 19 left
out, and the value loss after the episode came after a pass left out. It is recorded
when its shapes are new (the critic's ``(20, 1)`` values against ``(20,)`` returns,
ST005), with ops on and off; a loss of shapes already recorded (every step of a plain
training loop) is not recorded again.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest

import shapetrace
from shapetrace.cli import main
from tests.case_support import CaseRun

ACTOR_CRITIC = """
import sys
import torch
import torch.nn.functional as F
from torch import nn


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 32), nn.ReLU())
        self.pi, self.v = nn.Linear(32, 2), nn.Linear(32, 1)

    def forward(self, state):
        h = self.body(state)
        return F.softmax(self.pi(h), dim=-1), self.v(h)


torch.manual_seed(0)
model = ActorCritic()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for episode in range(3):
    log_probs, values = [], []
    for step in range(20):
        probs, value = model(torch.randn(4))
        action = torch.distributions.Categorical(probs).sample()
        log_probs.append(torch.log(probs[action]))
        values.append(value)
    returns = torch.tensor([0.99 ** k for k in range(20)])
    values = torch.stack(values)  # (20, 1)
    if "--fixed" in sys.argv:
        values = values.squeeze(-1)
    actor_loss = -(torch.stack(log_probs) * (returns - values.detach().view(-1))).mean()
    critic_loss = F.mse_loss(values, returns)
    opt.zero_grad()
    (actor_loss + critic_loss).backward()
    opt.step()
"""

SUPERVISED = """
import torch
import torch.nn.functional as F
from torch import nn

model = nn.Linear(3, 1)
for step in range(50):
    F.mse_loss(model(torch.randn(8, 3)).squeeze(-1), torch.randn(8)).backward()
"""


@pytest.mark.parametrize("ops", [True, False])
def test_the_value_loss_after_an_episode_of_left_out_steps_is_st005(tmp_path, ops):
    script = tmp_path / "actor_critic.py"
    script.write_text(ACTOR_CRITIC)
    flags = () if ops else ("--no-op-recording",)
    done = _run(script, flags)
    found = [f for f in done.trace.findings if f.code == "ST005"]
    assert done.exit_code == 1, done.output
    assert "mse_loss at line 34 compares input (20, 1) with target (20,)" in found[0].message
    assert found[0].hint == "use values.squeeze(-1) as the input, or returns.unsqueeze(-1) as the target"
    fixed = _run(script, flags, "--fixed")
    assert fixed.exit_code == 0, fixed.output
    assert [f for f in fixed.trace.findings if f.severity != "info"] == []


@pytest.mark.parametrize("ops", [True, False])
def test_a_loss_of_shapes_already_recorded_is_not_recorded_again(tmp_path, ops):
    script = tmp_path / "supervised.py"
    script.write_text(SUPERVISED)
    done = _run(script, () if ops else ("--no-op-recording",))
    assert done.exit_code == 0, done.output
    assert [call.name for call in done.trace.calls if call.name == "mse_loss"] == ["mse_loss"]


def _run(script, flags, *script_arguments) -> CaseRun:
    """``shapetrace run SCRIPT --fail-on warning FLAGS -- ARGS`` in this process."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "trace.json"
        out = io.StringIO()
        arguments = ["run", str(script), "--fail-on", "warning", *flags, "-o", str(saved)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main([*arguments, *(["--", *script_arguments] if script_arguments else [])])
        return CaseRun(code, shapetrace.load(saved), out.getvalue())


BROADCASTING_LOOP = """
import torch
import torch.nn.functional as F
from torch import nn

model = nn.Linear(3, 1)
for step in range(4):
    F.mse_loss(model(torch.randn(8, 3)), torch.randn(8)).backward()
"""


@pytest.mark.parametrize("ops", [True, False])
def test_pytorchs_warning_names_the_users_line_for_every_loss_recorded_or_not(tmp_path, ops):
    """Under ``shapetrace run`` the losses are wrapped (ops on too): a loss that is not
    recorded (steps 2 to 4, like step 1) still runs as if called from the user's line,
    where PyTorch's broadcast warning (``stacklevel=2``) names it untraced."""
    import warnings

    script = tmp_path / "loop.py"
    script.write_text(BROADCASTING_LOOP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = _run(script, () if ops else ("--no-op-recording",))
    assert done.exit_code == 1, done.output
    broadcast = [w for w in caught if "broadcasting" in str(w.message)]
    assert len(broadcast) == 4
    assert {(w.filename, w.lineno) for w in broadcast} == {(str(script), 8)}
