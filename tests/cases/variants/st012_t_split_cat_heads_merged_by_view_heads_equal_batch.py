"""ST012 variant: attention heads folded into the batch with ``torch.cat(t.split(d, -1), 0)``,
head-major (H * B, T, d), then merged back with a plain ``a.view(x.size(0), T, E)``. Heads ==
batch == 4: the sizes put the heads where the batch goes; ``x.size(0)``, read off the
forward's own argument, names the batch. The fix: ``torch.cat(a.split(x.size(0), 0), -1)``."""

import torch
from torch import nn
from variant_work import backward, run

B, T, H, D = 4, 8, 4, 8
E = H * D


class FoldedAttention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.qkv = nn.Linear(E, 3 * E)
        self.o = nn.Linear(E, E)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        q, k, v = (torch.cat(t.split(D, -1), 0) for t in (q, k, v))  # (H * B, T, D), row h * B + b
        a = torch.softmax(q @ k.transpose(1, 2) / D**0.5, -1) @ v
        if self.fixed:
            a = torch.cat(a.split(x.size(0), 0), -1)
        else:
            a = a.view(x.size(0), T, E)  # culprit
        return self.o(a)


def make(fixed=False):
    torch.manual_seed(0)
    model = FoldedAttention(fixed)
    return model, backward(model, torch.randn(B, T, E))


if __name__ == "__main__":
    run(make)
