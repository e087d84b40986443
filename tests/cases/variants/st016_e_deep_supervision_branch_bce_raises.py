"""ST016 variant (https://github.com/GeoZcx/A-deeply-supervised-image-fusion-network-for-change-detection-in-remote-sensing-images/issues/15):
a deeply supervised change-detection network also scores an intermediate branch, which
is at 1/4 of the input resolution, against the full-size label map with
``F.binary_cross_entropy``. PyTorch raises "Using a target size (torch.Size([2, 1, 32,
32])) that is different to the input size (torch.Size([2, 1, 8, 8])) is deprecated" at
the loss. Diagnosis (the maintainer's): the ground truth must be downsampled to each
branch's size. Fix: ``F.max_pool2d(label, 4)`` (or interpolate) for the branch's loss."""

import torch
from torch import nn
from torch.nn import functional as F
from variant_work import run, step


class ChangeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.branch = nn.Conv2d(8, 1, 1)
        self.up = nn.Sequential(nn.Upsample(scale_factor=4), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, t1, t2):
        feats = self.down(torch.cat([t1, t2], dim=1))
        return torch.sigmoid(self.up(feats)), torch.sigmoid(self.branch(feats))


def make(fixed=False):
    torch.manual_seed(0)
    model = ChangeNet()
    t1, t2 = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    label = (torch.rand(2, 1, 32, 32) > 0.8).float()

    def work():
        out, branch = model(t1, t2)
        branch_label = F.max_pool2d(label, 4) if fixed else label
        step(F.binary_cross_entropy(out, label) + F.binary_cross_entropy(branch, branch_label))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
