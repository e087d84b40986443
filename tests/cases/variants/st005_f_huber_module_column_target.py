"""ST005 variant (PyTorch's "Using a target size that is different to the input size"
warning, here from ``nn.HuberLoss``): a (batch,) prediction (the head's output
squeezed) against a (batch, 1) target column read from a table. Both broadcast to
(batch, batch): every prediction is compared with every target and the loss
trains toward the mean. Diagnosis: a loss that broadcasts its two operands.
Fix: give the target the prediction's shape (``y.squeeze(1)``)."""

import sys

import torch
from torch import nn


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    criterion = nn.HuberLoss(delta=0.5)

    def work():
        table = torch.randn(10, 4)
        x, y = table[:, :3], table[:, 3:]
        if fixed:
            y = y.squeeze(1)
        loss = criterion(model(x), y)  # culprit
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
