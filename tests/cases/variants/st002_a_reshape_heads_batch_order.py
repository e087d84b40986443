"""ST002 variant: the merged (B * H) dim split back with ``reshape(H, B, T, D)``, then read
as (H, B, T, D) by ``permute(1, 2, 0, 3)``; the merge was batch-major."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class Attention(nn.Module):
    def __init__(self, width=30, heads=5, fixed=False):
        super().__init__()
        self.h, self.d, self.fixed = heads, width // heads, fixed
        self.qkv = nn.Linear(width, 3 * width)
        self.o = nn.Linear(width, width)

    def forward(self, x):  # (B, T, width)
        B, T, _ = x.shape
        q, k, v = (t.reshape(B, T, self.h, self.d).transpose(1, 2).reshape(B * self.h, T, self.d)
                   for t in self.qkv(x).chunk(3, -1))
        y = torch.bmm(F.softmax(torch.bmm(q, k.transpose(1, 2)), -1), v)
        if self.fixed:
            y = y.reshape(B, self.h, T, self.d).permute(0, 2, 1, 3)
        else:
            y = y.reshape(self.h, B, T, self.d).permute(1, 2, 0, 3)  # culprit
        return self.o(y.reshape(B, T, -1))


def make(fixed=False):
    torch.manual_seed(0)
    model = Attention(fixed=fixed)

    return model, backward(model, torch.randn(3, 7, 30))


if __name__ == "__main__":
    run(make)
