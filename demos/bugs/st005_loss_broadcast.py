"""ST005 loss-broadcast: a (batch, 1) prediction against a (batch,) target.

A GRU forecaster predicts one value per window, shaped (32, 1); the targets
are a flat (32,) vector. ``nn.MSELoss`` broadcasts them to (32, 32), so each
prediction is compared with every target. PyTorch only warns; the loss goes
down to the variance of the targets and stays there.

    shapetrace run demos/bugs/st005_loss_broadcast.py
"""

import math
import warnings

import torch
from torch import nn


class Forecaster(nn.Module):
    def __init__(self, hidden_size=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, 1)
        _, h_n = self.gru(x)
        return self.head(h_n[-1])  # (batch, 1)


def windows(n=96, seq_len=24):
    t = torch.arange(n + seq_len, dtype=torch.float32)
    load = 0.5 + 0.4 * torch.sin(2 * math.pi * t / 24)
    x = load.unfold(0, seq_len, 1)[:n].unsqueeze(-1)  # (n, 24, 1)
    return x, load[seq_len:seq_len + n]  # targets (n,): one per window


def main():
    warnings.simplefilter("ignore")  # PyTorch's broadcast warning, as many scripts silence it
    torch.manual_seed(0)
    x, y = windows()
    model = Forecaster()
    loss_function = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for start in range(0, 96, 32):
        loss = loss_function(model(x[start:start + 32]), y[start:start + 32])  # bug: (32, 1) vs (32,)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
