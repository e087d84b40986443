"""ST005 variant: a regression net (B, 1) whose MSE is written out by hand against a
(B,) target, ``((pred - y) ** 2).mean()``: the subtraction broadcasts to (B, B), so
every prediction is compared with every target (the StackOverflow classic)."""

import torch
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))

    def work():
        x = torch.randn(10, 4)
        y = x.sum(dim=1)  # (B,)
        pred = model(x)
        if fixed:
            pred = pred.squeeze(-1)
        step(((pred - y) ** 2).mean())  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
