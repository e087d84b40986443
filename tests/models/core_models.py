"""Models exercising the recorder: nesting, reuse, odd inputs and outputs."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from demos.lstm_forecaster import LSTM as ArticleLSTM


def article_model() -> nn.Module:
    """The article's forecaster with its numbers: input 1, hidden 64, 5 layers, batch 5."""
    torch.manual_seed(0)
    return ArticleLSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)


class LoopedLinear(nn.Module):
    """One Linear applied in a Python loop: one call per step."""

    def __init__(self, steps: int = 3) -> None:
        super().__init__()
        self.steps = steps
        self.cell = nn.Linear(4, 4)

    def forward(self, x):
        for _ in range(self.steps):
            x = torch.tanh(self.cell(x))
        return x


class KwargsAndDict(nn.Module):
    """Takes a keyword tensor and returns a dict with a None and a nested tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 2)

    def forward(self, x, *, mask=None, scale=2.0):
        y = self.proj(x) * scale
        if mask is not None:
            y = y * mask
        return {"logits": y, "nothing": None, "pair": (y.sum(-1), "label")}


@dataclasses.dataclass
class Prediction:
    mean: torch.Tensor
    note: str


class DataclassOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        return Prediction(self.head(x), "ok")


class PackedGRU(nn.Module):
    """Packs variable-length sequences before a GRU."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 5, batch_first=True)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        output, h_n = self.gru(packed)
        return output, h_n


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).relu()


class Nested(nn.Module):
    """User modules inside a built-in container: ops inside them are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Inner(), Inner())

    def forward(self, x):
        return self.blocks(x.flatten(1))


class Failing(nn.Module):
    """Its Linear expects 8 features: PyTorch raises on 4."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)
