"""ST005 variant (class of case13): a keypoint heatmap net outputs (B, 1, H, W) and the
dataset's heatmaps are (B, H, W); ``nn.MSELoss()`` broadcasts them to (B, B, H, W) with a
warning only. Fix: ``heatmap.unsqueeze(1)``."""

import torch
from torch import nn
from variant_work import run, step


class HeatmapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        return self.body(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = HeatmapNet()
    criterion = nn.MSELoss()

    def work():
        img, heatmap = torch.randn(3, 3, 12, 12), torch.rand(3, 12, 12)
        if fixed:
            heatmap = heatmap.unsqueeze(1)
        step(criterion(model(img), heatmap))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
