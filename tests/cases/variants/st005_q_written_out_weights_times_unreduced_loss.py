"""ST005 variant: a per-sample weighted loss. ``F.mse_loss(pred, y, reduction="none")`` of
(B, 1) and (B, 1) is right, but its (B, 1) result times the weights (B,) broadcasts to
(B, B), then ``mean()``: every sample's error is weighted by every weight, the weighting
lost, and PyTorch warns of nothing (``shapetrace run`` recorded no step after the loss op)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))

    def work():
        x, y = torch.randn(10, 5), torch.randn(10, 1)
        w = torch.linspace(0.1, 2.0, 10)  # importance weights, (B,)
        per_sample = F.mse_loss(model(x), y, reduction="none")  # (B, 1)
        if fixed:
            per_sample = per_sample.squeeze(1)
        step((per_sample * w).mean())  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
