"""ST005 variant: a binary cross-entropy written out by hand,
``-(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()``, with sigmoid outputs
(B, 1) and labels (B,): each product broadcasts to (B, B)."""

import torch
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())

    def work():
        x, y = torch.randn(9, 3), (torch.rand(9) > 0.5).float()
        if fixed:
            y = y.view(-1, 1)
        p = model(x)
        step(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean())  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
