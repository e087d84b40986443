"""ST016 variant: a density map after two AvgPool2d(2) against a full-resolution target,
``nn.L1Loss(reduction='sum')``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(6, 1, 1))
    criterion = nn.L1Loss(reduction="sum")

    def work():
        img, density = torch.rand(2, 3, 48, 48), torch.rand(2, 1, 48, 48)
        if fixed:
            density = F.avg_pool2d(density, 4) * 16
        step(criterion(model(img), density))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
