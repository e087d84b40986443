"""ST016 variant: a density map after two AvgPool2d(2) against a full-resolution target,
``nn.L1Loss(reduction='sum')``."""

import sys

import torch
import torch.nn.functional as F
from torch import nn


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(6, 1, 1))
    criterion = nn.L1Loss(reduction="sum")

    def work():
        img, density = torch.rand(2, 3, 48, 48), torch.rand(2, 1, 48, 48)
        if fixed:
            density = F.avg_pool2d(density, 4) * 16
        loss = criterion(model(img), density)  # culprit
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
