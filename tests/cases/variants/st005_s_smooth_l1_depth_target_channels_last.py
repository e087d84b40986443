"""ST005 variant: a depth-completion net predicts (B, 1, H, W) and is trained with
``nn.SmoothL1Loss`` against depth maps loaded channels-last from numpy, (B, H, W, 1). H == W,
so the loss broadcasts to (B, H, H, W) (PyTorch only warns) and each pixel is compared with a
whole row of the target. The fix: ``depth.permute(0, 3, 1, 2)``."""

import torch
from torch import nn
from variant_work import run, step


class DepthCompletion(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, rgbd):
        return self.out(self.enc(rgbd))


def make(fixed=False):
    torch.manual_seed(0)
    model = DepthCompletion()
    criterion = nn.SmoothL1Loss(beta=0.5)
    rgbd = torch.rand(2, 4, 8, 8)
    depth = torch.rand(2, 8, 8, 1)  # HWC, as the data was stored

    def work():
        pred = model(rgbd)
        if fixed:
            loss = criterion(pred, depth.permute(0, 3, 1, 2))
        else:
            loss = criterion(pred, depth)  # culprit
        step(loss)

    return model, work


if __name__ == "__main__":
    run(make)
