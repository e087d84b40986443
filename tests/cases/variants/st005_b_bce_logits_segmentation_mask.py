"""ST005 variant: a binary segmentation net (B, 1, H, W) against masks loaded as (B, H, W),
scored by ``F.mse_loss`` on the sigmoid (a soft-mask regression)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))

    def work():
        img = torch.randn(3, 3, 16, 16)
        mask = (torch.rand(3, 16, 16) > 0.5).float()
        logits = model(img)
        if fixed:
            logits = logits.squeeze(1)
        step(F.mse_loss(torch.sigmoid(logits), mask))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
