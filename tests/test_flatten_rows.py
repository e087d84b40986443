"""A CNN's feature map flattened for its Linear head with the wrong row length, the
most asked-about shape error of PyTorch's own tutorial network: ``x.view(-1, 16 * 4 * 4)``
where each sample holds 16 * 5 * 5 values. The rows cut across samples (the loss then
sees 25 rows for a batch of 16) or the view fails; neither is a batch size baked in, nor
fixed by a permute. The help (view one row per sample, build the Linear for it) is
applied: the finding goes and the network trains on its batch.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import shapetrace


class LeNet(nn.Module):
    """PyTorch's CIFAR-10 tutorial network, its head written for 16 * 4 * 4 features."""

    def __init__(self, in_features: int = 16 * 4 * 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(in_features, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        return self.pool(F.relu(self.conv2(x)))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.view(-1, 16 * 4 * 4)
        return self.head(x)


class Helped(LeNet):
    """The help applied: one row per sample, fc1 built for 16 * 5 * 5 features."""

    def __init__(self) -> None:
        super().__init__(16 * 5 * 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.head(x)


class Tutorial(LeNet):
    """The tutorial as written, right for 32 x 32 images: quiet."""

    def __init__(self) -> None:
        super().__init__(16 * 5 * 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.view(-1, 16 * 5 * 5)
        return self.head(x)


class Flattened(LeNet):
    """torch.flatten gives the rows right; fc1 is built for the wrong count."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.head(x)


def _train_step(model: nn.Module, batch: int) -> shapetrace.Trace:
    torch.manual_seed(0)
    images, labels = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    with shapetrace.trace(model) as t:
        F.cross_entropy(model(images), labels).backward()
    return t


def _line(text: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(LeNet)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_rows_that_cut_across_samples_are_found_at_the_view():
    with pytest.raises(ValueError, match=r"batch_size \(25\) to match target batch_size \(16\)"):
        _train_step(LeNet(), 16)
    model = LeNet()
    with pytest.raises(ValueError) as raised, shapetrace.trace(model) as t:
        F.cross_entropy(model(torch.randn(16, 3, 32, 32)), torch.randint(0, 10, (16,)))
    (found,) = [f for f in t.findings if f.code in ("ST012", "ST003")]
    assert found.code == "ST012" and found.location.lineno == _line("x.view(-1, 16 * 4 * 4)")
    assert found.message == (
        f"x.view(-1, 256) at line {found.location.lineno} flattens (16, 16, 5, 5) into rows of 256, but each "
        "sample holds 16 * 5 * 5 = 400 values, so its rows cut across samples: 25 rows for a batch of 16"
    )
    assert found.hint == "use x.view(x.size(0), -1), and build fc1 as nn.Linear(16 * 5 * 5, 120)"
    assert "ST012" in "\n".join(getattr(raised.value, "__notes__", []))


def test_a_view_that_fails_is_no_batch_size_baked_in():
    model = LeNet()
    invalid = r"shape '\[-1, 256\]' is invalid for input of size 1600"
    with pytest.raises(RuntimeError, match=invalid), shapetrace.trace(model) as t:
        model(torch.randn(4, 3, 32, 32))
    codes = [f.code for f in t.findings]
    assert "ST003" not in codes
    (found,) = [f for f in t.findings if f.code == "ST012"]
    assert found.severity == "error"
    assert found.hint == "use x.view(x.size(0), -1), and build the layer that takes it for 16 * 5 * 5 features"


@pytest.mark.parametrize("batch", [16, 4, 2])
def test_the_help_applied_trains_on_the_batch(batch):
    helped = Helped()
    t = _train_step(helped, batch)
    assert t.findings == []
    assert helped(torch.randn(batch, 3, 32, 32)).shape == (batch, 10)


def test_flatten_into_a_linear_built_too_small_names_the_product():
    model = Flattened()
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"), shapetrace.trace(model) as t:
        model(torch.randn(4, 3, 32, 32))
    (found,) = [f for f in t.findings if f.code == "ST010"]
    assert found.hint == (
        "torch.flatten of (4, 16, 5, 5) makes 400 features (16 * 5 * 5): build fc1 as nn.Linear(16 * 5 * 5, 120)"
    )


class Rows(nn.Module):
    """Rows of trailing axes, each right: per time step, per image row."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(8, 6, batch_first=True)
        self.per_step = nn.Linear(6, 2)
        self.per_row = nn.Linear(7, 2)

    def forward(self, seq: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.rnn(seq)
        steps = self.per_step(out.reshape(-1, 6))
        rows = self.per_row(image.view(-1, 7))
        return steps, rows


def test_correct_flattening_is_quiet():
    assert _train_step(Tutorial(), 16).findings == []
    rows = Rows()
    with shapetrace.trace(rows) as t:
        rows(torch.randn(3, 5, 8), torch.randn(3, 2, 4, 7))
    assert t.findings == []


class FlatHead(nn.Module):
    """A flat (B, 256) input viewed as rows of fc's in_features, 400 (newcomer review)."""

    def __init__(self, in_features: int = 400) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(-1, 400) if self.fc.in_features == 400 else x)


def test_a_flat_input_viewed_as_rows_of_another_length_is_no_batch_size():
    model = FlatHead()
    with pytest.raises(RuntimeError, match="invalid for input of size 2048"), shapetrace.trace(model) as t:
        model(torch.randn(8, 256))
    assert [f.code for f in t.findings] == ["ST012"]
    (found,) = t.findings
    assert "flattens (8, 256) into rows of 400, but each sample holds 256 values" in found.message
    assert found.hint == (
        "use x as it is, one row per sample (drop the view), and build the layer that takes it for 256 features"
    )
    helped = FlatHead(256)
    with shapetrace.trace(helped) as t:
        assert helped(torch.randn(8, 256)).shape == (8, 2)
    assert t.findings == []


def test_a_sample_split_into_equal_rows_is_quiet():
    class Split(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.view(-1, 8))  # (B, 64): 8 rows of 8 per sample, on purpose

    model = Split()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 64))
    assert t.findings == []
