"""ST012 variant (pytorch-conv2_1d issue #1, https://github.com/proceduralia/pytorch-conv2_1d/issues/1):
a (2+1)D convolution runs a Conv2d on frames (batch * time, C, H, W), then folds
the result for the temporal Conv1d with ``x.view(b * h * w, channels, t)``. The
frames tensor is laid out (batch, time, channels, h, w): the view's rows cut across
time and pixels, so the Conv1d slides over channel values, not over time.
Diagnosis: a view where a permute was meant. Fix: ``x.view(b, t, C, h, w)
.permute(0, 3, 4, 2, 1).reshape(b * h * w, C, t)``."""

import sys

import torch
from torch import nn


class Conv2Plus1d(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv2d = nn.Conv2d(3, 4, 3, padding=1)
        self.conv1d = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):  # (batch, 3, time, H, W)
        b, c, t, h, w = x.shape
        x = self.conv2d(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        channels = x.size(1)
        if self.fixed:
            x = x.view(b, t, channels, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, channels, t)
        else:
            x = x.view(b * h * w, channels, t)  # culprit
        x = self.conv1d(x)
        return x.view(b, h, w, channels, t).permute(0, 3, 4, 1, 2)


def make(fixed=False):
    torch.manual_seed(0)
    model = Conv2Plus1d(fixed)

    def work():
        out = model(torch.randn(2, 3, 5, 4, 4))
        out.mean().backward()
        print(tuple(out.shape))

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
