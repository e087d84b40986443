"""ST005 variant: a 3-D (volumetric) depth head (B, 1, D, H, W) against (B, D, H, W)
targets with ``nn.SmoothL1Loss`` inside the model's own training step."""

import torch
from torch import nn
from variant_work import run, step


class VolumeNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 1, 1))
        self.loss = nn.SmoothL1Loss()

    def forward(self, vol, target):
        pred = self.net(vol)
        if self.fixed:
            target = target.unsqueeze(1)
        return self.loss(pred, target)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = VolumeNet(fixed)

    def work():
        step(model(torch.randn(2, 1, 4, 8, 8), torch.randn(2, 4, 8, 8)))

    return model, work


if __name__ == "__main__":
    run(make)
