"""ST016 variant: 1-D per-sample prediction (B, 1, L/2) after MaxPool1d(2) against a
(B, 1, L) target, ``F.mse_loss``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Denoiser(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 1, 3, padding=1))

    def forward(self, x):
        y = self.body(x)
        if self.fixed:
            y = F.interpolate(y, scale_factor=2)
        return y


def make(fixed=False):
    torch.manual_seed(0)
    model = Denoiser(fixed)

    def work():
        noisy, clean = torch.randn(4, 1, 64), torch.randn(4, 1, 64)
        step(F.mse_loss(model(noisy), clean))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
