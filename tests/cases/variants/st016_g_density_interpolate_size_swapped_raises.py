"""ST016 variant: a crowd-density net on non-square images (32 x 48) upsamples its
(B, 1, 8, 12) map back with ``F.interpolate(d, size=(w, h))``, width and height swapped;
``F.mse_loss`` against the (B, 1, 32, 48) ground truth raises ("The size of tensor a (32)
must match the size of tensor b (48)"). Fix: ``size=(h, w)`` (``size=x.shape[-2:]``)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Density(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        d = self.body(x)
        if self.fixed:
            return F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)
        return F.interpolate(d, size=(w, h), mode="bilinear", align_corners=False)


def make(fixed=False):
    torch.manual_seed(0)
    model = Density(fixed)

    def work():
        img, gt = torch.randn(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
        step(F.mse_loss(model(img), gt))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
