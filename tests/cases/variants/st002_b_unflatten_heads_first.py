"""ST002 variant: ``unflatten(0, (H, B))`` on a batch-major merged (B * H) dim."""

import torch
from torch import nn
from variant_work import forward, run


class HeadMixer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.h, self.fixed = 2, fixed
        self.inp = nn.Linear(8, 8)
        self.out = nn.Linear(8, 8)

    def forward(self, x):  # (B, T, 8)
        B, T, _ = x.shape
        heads = self.inp(x).view(B, T, self.h, 4).permute(0, 2, 1, 3).reshape(B * self.h, T, 4)
        heads = torch.tanh(heads)
        if self.fixed:
            back = heads.unflatten(0, (B, self.h)).permute(0, 2, 1, 3)
        else:
            back = heads.unflatten(0, (self.h, B)).permute(1, 2, 0, 3)  # culprit
        return self.out(back.reshape(B, T, 8))


def make(fixed=False):
    torch.manual_seed(0)
    model = HeadMixer(fixed)

    return model, forward(model, torch.randn(3, 5, 8))


if __name__ == "__main__":
    run(make)
