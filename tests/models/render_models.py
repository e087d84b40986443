"""Models for the renderers: the article's forecaster, loops, repeated blocks.

Line numbers matter here: tests find lines by their text, never by number.
"""

from __future__ import annotations

import torch
from torch import nn

from demos.lstm_forecaster import LSTM as ArticleLSTM


def forecaster() -> nn.Module:
    """The article's model with its numbers: input 1, hidden 64, 5 layers, batch 5."""
    torch.manual_seed(0)
    return ArticleLSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)


class Loops(nn.Module):
    """A Linear called 7 times in a loop, a loop whose shapes change, a chain."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        for _ in range(7):
            x = self.fc(x)
        wide = x
        for _ in range(2):
            wide = torch.cat([wide, wide], dim=1)
        flat = wide.view(2, 16).view(32)
        return flat


class Block(nn.Module):
    """A user-defined block: its forward is annotated once for every call."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(x + self.fc(x).relu())


class Stack(nn.Module):
    """Embedding (int64 in), four identical Blocks, a permute (non-contiguous out)."""

    def __init__(self, blocks: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.blocks = nn.ModuleList(Block() for _ in range(blocks))

    def forward(self, ids):
        x = self.embed(
            ids,
        )
        for block in self.blocks:
            x = block(x)
        return x.permute(1, 0, 2)


class Broken(nn.Module):
    """A view that cannot work: (4, 5) has 20 elements, not 21."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        y = self.fc(x)
        return y.view(3, 7)


def transformer(layers: int = 12) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class Headers(nn.Module):
    """A loop header over two lines with a comment under it; two statements on one line."""

    def forward(self, x):
        for piece in torch.split(
                x, 2):
            # the header's shapes go on its ':' line, not on this comment
            y = piece.relu()
        z = x * 2; w = z.view(-1)  # noqa: E702
        return y, w
