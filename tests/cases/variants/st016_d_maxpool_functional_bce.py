"""ST016 variant: a saliency head downsampled by ``F.max_pool2d`` three times (1/8) against
a full-size mask in ``nn.BCEWithLogitsLoss``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Saliency(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        return self.head(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = Saliency()
    criterion = nn.BCEWithLogitsLoss()

    def work():
        img, mask = torch.randn(2, 3, 64, 64), (torch.rand(2, 1, 64, 64) > 0.5).float()
        if fixed:
            mask = F.max_pool2d(mask, 8)
        step(criterion(model(img), mask))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
