"""ST002 variant: frames of a clip folded as (B * T, C) for a per-frame MLP, then unfolded
with ``view(T, B, C)`` (time-major) although the fold was batch-major."""

import torch
from torch import nn
from variant_work import forward, run


class ClipModel(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.frame = nn.Linear(10, 6)
        self.gru = nn.GRU(6, 6)

    def forward(self, clip):  # (B, T, 10)
        B, T, _ = clip.shape
        per_frame = self.frame(clip.reshape(B * T, 10))
        if self.fixed:
            seq = per_frame.view(B, T, 6).transpose(0, 1)
        else:
            seq = per_frame.view(T, B, 6)  # culprit
        out, _ = self.gru(seq)
        return out[-1]


def make(fixed=False):
    torch.manual_seed(0)
    model = ClipModel(fixed)

    return model, forward(model, torch.randn(3, 8, 10))


if __name__ == "__main__":
    run(make)
