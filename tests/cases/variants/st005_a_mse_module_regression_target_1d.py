"""ST005 variant: a regression head (B, 1) trained against a (B,) target with
``nn.MSELoss()``: every prediction is compared with every target (B, B)."""

import torch
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    criterion = nn.MSELoss()

    def work():
        x, y = torch.randn(12, 5), torch.randn(12)
        if fixed:
            y = y.unsqueeze(1)
        step(criterion(model(x), y))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
