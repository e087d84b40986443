"""ST005 variant: a forecaster's Conv1d head gives (batch, 1, horizon); the training loop scores it
with a symmetric MAPE written as a function, ``smape(pred, target)``, against (batch, horizon)
targets. Inside, ``pred - target`` and ``pred.abs() + target.abs()`` both broadcast to (batch,
batch, horizon), and the mean hides it. The fix is at the call: ``smape(forecast.squeeze(1), y)``;
squeezing one use inside the function would leave the other broadcasting."""

import torch
from torch import nn
from variant_work import step

HORIZON, LOOKBACK, BATCH = 12, 48, 16


def smape(pred, target, eps=1e-6):
    return (200 * (pred - target).abs() / (pred.abs() + target.abs() + eps)).mean()  # culprit


class ConvForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(HORIZON))
        self.head = nn.Conv1d(8, 1, 1)

    def forward(self, history):
        return self.head(self.body(history))


def make(fixed=False):
    torch.manual_seed(0)
    model = ConvForecaster()
    history, y = torch.randn(BATCH, 1, LOOKBACK), torch.randn(BATCH, HORIZON)

    def work():
        forecast = model(history)
        if fixed:
            forecast = forecast.squeeze(1)
        step(smape(forecast, y))

    return model, work


if __name__ == "__main__":
    from variant_work import run

    run(make)
