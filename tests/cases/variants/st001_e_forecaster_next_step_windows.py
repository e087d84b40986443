"""ST001 variant: a next-step forecaster on windows of a multivariate series. Each
batch is a (32, 25, 3) block of windows; the model reads ``w[:, :-1]`` and is scored
against the load one step ahead, ``w[:, 1:, :1]``, at every step (MSE). The GRU keeps
batch_first=False: it steps through the 32 windows, and treats the 24 hours as a batch.

Report class: "lstm input is wrong", a time-series LSTM fed (batch, seq, feature) with
the default layout (https://github.com/spdin/time-series-prediction-lstm-pytorch/issues/3).
Fix: nn.GRU(..., batch_first=True)."""

import math

import torch
from torch import nn
from variant_work import run, train_step


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.gru = nn.GRU(3, 20, batch_first=fixed)
        self.head = nn.Linear(20, 1)

    def forward(self, x):  # (batch, hours, 3)
        out, _ = self.gru(x)  # culprit
        return self.head(out)


def make(fixed=False):
    torch.manual_seed(0)
    t = torch.arange(32 * 25, dtype=torch.float32)
    series = torch.stack([torch.sin(2 * math.pi * t / 24), torch.cos(2 * math.pi * t / 24), t % 7 / 7], 1)
    windows = series.view(32, 25, 3)
    model = Forecaster(fixed)

    inputs, targets = windows[:, :-1], windows[:, 1:, :1]
    return model, train_step(model, nn.functional.mse_loss, inputs, targets)


if __name__ == "__main__":
    run(make)
