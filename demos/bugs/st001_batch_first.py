"""ST001 batch-first-mismatch: batch-major windows into a seq-first LSTM.

A multivariate load forecaster: 24 past hours of (load, temperature, hour of
day) predict the next hour's load. The DataLoader stacks windows batch first,
(32, 24, 3), but the LSTM is built without ``batch_first=True``: it steps
through the 32 samples and treats the 24 hours as a batch. Nothing raises,
the loss even goes down, and the model learns nothing about time.

    shapetrace run demos/bugs/st001_batch_first.py
"""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Forecaster(nn.Module):
    def __init__(self, n_features=3, hidden_size=32):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size)  # bug: batch_first=True is missing
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, features)
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :])  # the last hour of each window, or so it seems


def hourly_windows(hours=24 * 14, window=24):
    t = torch.arange(hours, dtype=torch.float32)
    load = 0.6 + 0.3 * torch.sin(2 * math.pi * t / 24)
    temperature = 0.5 + 0.2 * torch.sin(2 * math.pi * (t - 3) / 24)
    series = torch.stack([load, temperature, (t % 24) / 24], dim=1)  # (hours, 3)
    x = series.unfold(0, window, 1)[:-1].transpose(1, 2)  # (n, 24, 3)
    y = load[window:].unsqueeze(1)  # (n, 1)
    return x, y


def main():
    torch.manual_seed(0)
    x, y = hourly_windows()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, drop_last=True)
    model = Forecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step, (batch_x, batch_y) in enumerate(loader):
        loss = nn.functional.mse_loss(model(batch_x), batch_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 3:
            break
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
