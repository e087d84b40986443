"""ST003's help for a view whose baked-in batch size sits where the batch is not in
memory: ``(B, 4).view(-1, 3)`` written for batches of 3. ``h.view(-1, h.size(0))``
would run but make rows of two samples; the help views the batch first and moves
it (``h.view(h.size(0), -1).transpose(0, 1)``), and applying it leaves no finding."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

import shapetrace


class Baked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h.view(-1, 3)


class BakedInOrder(Baked):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h.view(3, 2, 2)


class Helped(Baked):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h.view(h.size(0), -1).transpose(0, 1)


def _run(model: nn.Module) -> shapetrace.Trace:
    torch.manual_seed(0)
    with contextlib.suppress(RuntimeError), shapetrace.trace(model) as t:
        model(torch.randn(3, 4))
        model(torch.randn(8, 4))
    return t


def test_the_batch_out_of_memory_order_is_viewed_first_then_moved():
    t = _run(Baked())
    (st003,) = [f for f in t.findings if f.code == "ST003"]
    assert st003.hint == "use h.view(h.size(0), -1).transpose(0, 1)"

    helped = Helped()
    t = _run(helped)
    assert t.error is None and t.findings == []
    x = torch.randn(8, 4)
    assert torch.equal(helped(x), helped.fc(x).t())  # each sample's values stay in one column


def test_the_batch_in_memory_order_keeps_the_view():
    t = _run(BakedInOrder())
    (st003,) = [f for f in t.findings if f.code == "ST003"]
    assert st003.hint == "use h.view(h.size(0), 2, 2)"


class FeatureSplit(Baked):
    """The batch is read from the data; the wrong number is a feature split (4 * 3 is not 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).view(x.size(0), 4, 3)


class FeatureSplitBaked(FeatureSplit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).view(5, 4, 2)


def _failed_findings(model, x):
    with contextlib.suppress(RuntimeError), shapetrace.trace(model) as t:
        model(x)
    return [f.code for f in t.findings]


def test_a_view_that_reads_the_batch_from_the_data_has_no_baked_batch_size():
    # newcomer review: ST003 called the feature literal 3 a batch size baked in, and its
    # help swapped a feature size for the batch, which then runs wrong for batches of 2
    assert "ST003" not in _failed_findings(FeatureSplit(), torch.randn(2, 4))
    # the same view with the batch written as a literal is ST003's
    assert "ST003" in _failed_findings(FeatureSplitBaked(), torch.randn(2, 4))
