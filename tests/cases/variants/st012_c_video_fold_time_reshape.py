"""ST012 variant: a (B, C, T, H, W) clip folded into frames with ``reshape(-1, C, H, W)``
for a 2-D backbone, without moving time next to the batch first."""

import torch
from torch import nn
from variant_work import forward, run


class FrameEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.temporal = nn.GRU(8, 8, batch_first=True)

    def forward(self, clip):  # (B, 3, T, 16, 16)
        b, c, t, h, w = clip.shape
        if self.fixed:
            frames = clip.permute(0, 2, 1, 3, 4).reshape(-1, c, h, w)
        else:
            frames = clip.reshape(-1, c, h, w)  # culprit
        feats = self.backbone(frames).view(b, t, -1)
        out, _ = self.temporal(feats)
        return out[:, -1]


def make(fixed=False):
    torch.manual_seed(0)
    model = FrameEncoder(fixed)

    return model, forward(model, torch.randn(2, 3, 5, 16, 16))


if __name__ == "__main__":
    run(make)
