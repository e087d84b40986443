"""The note on an error raised by a DataLoader's short last batch says so: the epoch ran
until a batch of a size only the last one has (33 samples in batches of 8 leave 1), and
a BatchNorm in training refuses one sample per channel. A batch that is not the short
one gets no such line."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shapetrace


def _train(samples: int, batch_size: int) -> tuple[shapetrace.Trace, str]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    data = TensorDataset(torch.randn(samples, 10), torch.randint(0, 2, (samples,)))
    loader = DataLoader(data, batch_size=batch_size)
    one_value = "Expected more than 1 value per channel"
    with pytest.raises(ValueError, match=one_value) as raised, shapetrace.trace(net) as t:
        for x, y in loader:
            nn.functional.cross_entropy(net(x), y).backward()
    return t, "\n".join(raised.value.__notes__)


def test_batchnorm_on_the_short_last_batch_of_one():
    t, note = _train(33, 8)
    line = next(line for line in note.splitlines() if line.startswith("  data: "))
    assert re.fullmatch(
        r"  data: this batch has 1 sample: the short last batch of the DataLoader at \S*test_short_batch_note\.py:\d+ "
        r"\(33 samples in batches of 8, drop_last=False\)",
        line,
    )
    assert [root for root in t.roots if root.kind == "module"][-1].inputs[0].shape == (1, 10)


def test_a_batch_of_one_that_is_every_batch_is_not_called_short():
    _, note = _train(3, 1)
    assert "data:" not in note
