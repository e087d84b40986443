"""ST002 view-scrambles-dims: ``view`` where ``transpose`` was meant.

A GRU forecaster that works seq-first, fed batch-first windows (16, 48, 2).
To get (hours, batch, features) it calls ``x.view(seq_len, batch, -1)``:
the sizes come out right, (48, 16, 2), but view keeps memory order, so each
"hour" row now holds pieces of several windows. Nothing raises.

    shapetrace run demos/bugs/st002_view_scramble.py
"""

import math

import torch
from torch import nn


class SeqFirstForecaster(nn.Module):
    def __init__(self, n_features=2, hidden_size=32):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size)  # seq-first: (hours, batch, features)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, features)
        batch, seq_len, _ = x.shape
        x = x.view(seq_len, batch, -1)  # bug: x.transpose(0, 1) was meant
        out, h_n = self.gru(x)
        return self.head(h_n[-1])  # (batch, 1)


def windows(n=64, seq_len=48):
    t = torch.arange(n + seq_len, dtype=torch.float32)
    load = 0.5 + 0.4 * torch.sin(2 * math.pi * t / 24)
    wind = 0.5 + 0.2 * torch.cos(2 * math.pi * t / 12)
    series = torch.stack([load, wind], dim=1)
    x = torch.stack([series[i:i + seq_len] for i in range(n)])  # (n, 48, 2)
    return x, load[seq_len:seq_len + n].unsqueeze(1)


def main():
    torch.manual_seed(0)
    x, y = windows()
    model = SeqFirstForecaster()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for start in range(0, 48, 16):
        loss = nn.functional.mse_loss(model(x[start:start + 16]), y[start:start + 16])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
