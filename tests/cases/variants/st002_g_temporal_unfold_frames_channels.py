"""ST002 variant (diffusers issue #5633, https://github.com/huggingface/diffusers/issues/5633):
a temporal transformer block works on (batch * height * width, frames, channels)
and unfolds its result with ``.reshape(batch, height, width, channel, num_frames)``
before permuting back to (batch, channels, frames, height, width). The tensor holds
frames before channels, so the reshape relabels frames as channels. Diagnosis: the
reshape splits the merged rows back in the wrong order (frames and channels
swapped). Fix: ``.reshape(batch, height, width, num_frames, channel)`` and the
permute that matches it."""

import sys

import torch
from torch import nn


class TemporalBlock(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.proj_in = nn.Linear(6, 6)
        self.proj_out = nn.Linear(6, 6)
        self.mix = nn.Conv3d(6, 2, 1)

    def forward(self, video):  # (batch, 6 channels, 4 frames, 3, 5)
        b, c, f, h, w = video.shape
        x = video.permute(0, 3, 4, 2, 1).reshape(b * h * w, f, c)
        x = torch.softmax(self.proj_in(x) @ x.transpose(1, 2), dim=-1) @ x
        x = self.proj_out(x)
        if self.fixed:
            x = x.reshape(b, h, w, f, c).permute(0, 4, 3, 1, 2)
        else:
            x = x.reshape(b, h, w, c, f).permute(0, 3, 4, 1, 2)  # culprit
        return self.mix(x + video)


def make(fixed=False):
    torch.manual_seed(0)
    model = TemporalBlock(fixed)

    def work():
        out = model(torch.randn(2, 6, 4, 3, 5))
        out.mean().backward()
        print(tuple(out.shape))

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
