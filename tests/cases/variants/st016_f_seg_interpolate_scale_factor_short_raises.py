"""ST016 variant: a segmentation net downsamples by 4 (two stride-2 convs) and upsamples
its logits with ``F.interpolate(logits, scale_factor=2)``; ``F.cross_entropy`` against the
full-size (B, H, W) mask raises ("Expected target size ..."). Diagnosis: the prediction
is at half the label's resolution. Fix: ``size=mask.shape[-2:]`` (or scale_factor=4)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class TinySeg(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        logits = self.cls(self.enc(x))  # (B, 4, H/4, W/4)
        if self.fixed:
            return F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False)


def make(fixed=False):
    torch.manual_seed(0)
    model = TinySeg(fixed)

    def work():
        img, mask = torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32))
        step(F.cross_entropy(model(img), mask))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
