"""ST016 variant: a binary segmentation net pools by 4 and its logits are never
upsampled; ``F.binary_cross_entropy_with_logits`` of the (2, 1, 8, 8) output against the
(2, 1, 32, 32) mask raises ("Target size ... must be the same as input size"). Fix:
``F.interpolate(out, size=x.shape[-2:])`` before the loss."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class MaskNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        out = self.body(x)
        if self.fixed:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out


def make(fixed=False):
    torch.manual_seed(0)
    model = MaskNet(fixed)

    def work():
        img, mask = torch.randn(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
        step(F.binary_cross_entropy_with_logits(model(img), mask))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
