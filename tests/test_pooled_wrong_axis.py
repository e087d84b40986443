"""ST013 for pools and sums (``analyze/checks/_dropped_axes.py``): a mean, max or sum,
or an einsum contraction, that removes a sequence layer's feature axis and keeps its
time axis, which the next layer then reads as features. The variants st013_u/v/w
(``tests/cases/variants``) apply the help on real-sized models; here, each spelling
once with its help applied, and the poolings written right that must stay clean."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

import shapetrace

POOLS = {
    # spelling: (buggy, as the help rewrites it)
    "mean": ("out.mean(dim=2)", "out.mean(dim=1)"),
    "torch.mean": ("torch.mean(out, -1)", "torch.mean(out, dim=1)"),
    "max": ("out.max(dim=-1)[0]", "out.max(dim=1)"),
    "amax": ("out.amax(2)", "out.amax(dim=1)"),
    "sum": ("out.sum(-1)", "out.sum(dim=1)"),
    "einsum": ("torch.einsum('bt,bht->bh', weights, out)", "torch.einsum('bt,bth->bh', weights, out)"),
}


_MODEL = """
import torch
from torch import nn


class Pooled(nn.Module):
    def __init__(self, in_features=16):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(in_features, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        weights = torch.softmax(out[:, :, 0], dim=1)  # (batch, time): attention-style weights
        pooled = EXPRESSION
        return self.fc(pooled)
"""


def Pooled(expression: str, in_features: int = 16) -> nn.Module:
    """A batch-first LSTM over the steps with 16 hidden units, pooled by ``expression``
    (written into a file of its own: the finding's help reads the source line)."""
    Pooled.made += 1
    name = f"pooled_model_{Pooled.made}"
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(_MODEL.replace("EXPRESSION", expression))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.Pooled(in_features)


Pooled.made = 0


def _findings(model: nn.Module, x: torch.Tensor) -> list:
    with shapetrace.trace(model) as t:
        model(x)
    return [f for f in t.findings if f.severity in ("warning", "error")]


@pytest.mark.parametrize("spelling", sorted(POOLS))
def test_a_pool_over_the_hidden_axis_is_found_and_its_help_pools_time(spelling):
    buggy, fixed = POOLS[spelling]
    x = torch.randn(4, 16, 8)
    found = _findings(Pooled(buggy), x)
    assert [f.code for f in found] == ["ST013"], found
    assert "16 hidden features (dim 2" in found[0].message
    assert "reads the time steps as its features" in found[0].message
    assert found[0].hint == f"use {fixed}"
    written = buggy.removesuffix("[0]")  # the call the help rewrites
    helped = Pooled(buggy.replace(written, found[0].hint.removeprefix("use ")))
    assert _findings(helped, x) == []
    out, _ = helped.lstm(x)
    over_time = {"mean": out.mean(1), "sum": out.sum(1), "max": out.amax(1), "amax": out.amax(1)}
    weights = torch.softmax(out[:, :, 0], dim=1)
    over_time["einsum"] = (out * weights.unsqueeze(-1)).sum(1)
    over_time["torch.mean"] = over_time["mean"]
    torch.testing.assert_close(helped(x), helped.fc(over_time[spelling]))


def test_the_einsum_finding_names_the_summed_index():
    found = _findings(Pooled(POOLS["einsum"][0]), torch.randn(4, 16, 8))
    assert "sums the 16 hidden features (dim 2, einsum index 't')" in found[0].message


def test_a_kept_dim_moves_the_squeeze_after_it_too():
    found = _findings(Pooled("out.sum(2, keepdim=True).squeeze(-1)"), torch.randn(4, 16, 8))
    assert found[0].hint == "use out.sum(dim=1, keepdim=True): then squeeze dim 1, not dim 2"
    helped = Pooled("out.sum(dim=1, keepdim=True).squeeze(1)")
    assert _findings(helped, torch.randn(4, 16, 8)) == []


@pytest.mark.parametrize(
    "expression",
    [
        "out.mean(dim=1)",
        "out.max(dim=1)[0]",
        "(out * weights.unsqueeze(-1)).sum(1)",
        "torch.einsum('bt,bth->bh', weights, out)",
        "out[:, -1]",
    ],
)
def test_pools_over_time_are_clean(expression):
    assert _findings(Pooled(expression), torch.randn(4, 16, 8)) == []


def test_a_layer_built_for_the_steps_reads_a_per_step_pool_as_meant():
    # 12 steps, 16 hidden units, a head built for 12 inputs: one value per step, on purpose
    assert _findings(Pooled("out.mean(dim=-1)", in_features=12), torch.randn(4, 12, 8)) == []


def test_attention_scores_summed_over_hidden_are_clean():
    class Attend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.query = nn.Parameter(torch.randn(16))
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            scores = (out * self.query).sum(-1)  # (batch, time): the hidden axis summed, as meant
            weights = torch.softmax(scores, dim=1)
            return self.fc(torch.bmm(weights.unsqueeze(1), out).squeeze(1))

    assert _findings(Attend(), torch.randn(4, 16, 8)) == []


def test_a_conv1d_pooled_over_its_channels_is_found():
    class TextCNN(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.dim = dim
            self.conv = nn.Conv1d(8, 16, 3, padding=1)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):  # (batch, 16 positions, 8)
            return self.fc(self.conv(x.transpose(1, 2)).mean(self.dim))

    found = _findings(TextCNN(1), torch.randn(4, 16, 8))
    assert [f.code for f in found] == ["ST013"]
    assert "averages the 16 channels (dim 1) of conv (Conv1d)'s output at every position" in found[0].message
    assert _findings(TextCNN(2), torch.randn(4, 16, 8)) == []
