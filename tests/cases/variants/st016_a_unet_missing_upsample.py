"""ST016 variant: a segmentation encoder with two stride-2 convs (1/4) trained with
``F.cross_entropy`` against full-size label maps; the upsampling was forgotten."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Segmenter(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(16, 5, 1)

    def forward(self, x):
        logits = self.cls(self.enc(x))
        if self.fixed:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def make(fixed=False):
    torch.manual_seed(0)
    model = Segmenter(fixed)

    def work():
        img, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2, 32, 32))
        step(F.cross_entropy(model(img), labels))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
