"""ST001 for recurrent cells (``analyze/checks/_cell_loop.py``): a loop that steps a cell
through the batch axis of a DataLoader's batch, its state carried from sample to sample.
The variant st001_q (``tests/cases/variants``) applies the help; here, the loop written on
one line (its ``range(x.shape[0])`` is no index of the data) and the seq-first loops that
must stay clean."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shapetrace


class CellNet(nn.Module):
    def __init__(self, loop: str) -> None:
        super().__init__()
        self.loop = loop
        self.cell = nn.GRUCell(3, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.size(0), 16)
        if self.loop == "one line":
            for t in range(x.shape[0]): h = self.cell(x[t], h)  # noqa: E701
        elif self.loop == "unbind":
            for step in x.unbind(0):
                h = self.cell(step, h)
        elif self.loop == "time":
            for t in range(x.size(1)):
                h = self.cell(x[:, t], h)
        else:  # seq-first inside: the batch moved to dim 1 first
            steps = x.transpose(0, 1)
            for t in range(steps.size(0)):
                h = self.cell(steps[t], h)
        return self.head(h)


def _findings(loop: str) -> list:
    torch.manual_seed(0)
    model = CellNet(loop)
    loader = DataLoader(TensorDataset(torch.randn(16, 8, 3), torch.randint(0, 4, (16,))), batch_size=8)
    with shapetrace.trace(model) as t:
        for x, y in loader:  # batch 8 == 8 steps
            nn.functional.cross_entropy(model(x), y).backward()
    return [f for f in t.findings if f.severity != "info"]


def test_a_one_line_loop_over_the_batch_is_found_with_a_help_for_its_data():
    (found,) = _findings("one line")
    assert found.code == "ST001"
    assert found.message.startswith("x[t] at line ")
    assert "hands cell (GRUCell) one element of dim 0 of x (8, 8, 3)" in found.message
    assert found.hint == "use x[:, t]: step along dim 1, for t in range(x.size(1)), with a state of x.size(0) rows"


@pytest.mark.parametrize("loop", ["time", "seq-first"])
def test_loops_over_time_are_clean(loop):
    assert _findings(loop) == []


def test_a_loop_over_the_batchs_unbind_is_found_with_the_time_axis_unbound():
    (found,) = _findings("unbind")
    assert found.code == "ST001" and found.message.startswith("x.unbind(0) at line ")
    assert found.hint == "use x.unbind(1): one step of every sample each time, with a state of x.size(0) rows"
