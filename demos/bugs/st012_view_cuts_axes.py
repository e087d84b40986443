"""ST012 view-cuts-across-axes: heads concatenated with a view, not a transpose.

A batch_first multi-head self-attention merges batch and heads for ``bmm``:
(B * H, L, D). To concatenate the heads it calls ``attn.view(B, L, E)``. The
sizes fit, (2, 5, 24), but memory order is B, H, L, D: each output row splices
one head's values of several positions together. Nothing raises. (The pattern
of https://github.com/meta-pytorch/opacus/pull/825.)

    shapetrace run demos/bugs/st012_view_cuts_axes.py
"""

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, embed=24, heads=4):
        super().__init__()
        self.e, self.h, self.d = embed, heads, embed // heads
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)

    def forward(self, x):  # (batch, length, embed)
        b, length, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(b, length, self.h, self.d).transpose(1, 2).reshape(b * self.h, length, self.d)
        k = k.reshape(b, length, self.h, self.d).transpose(1, 2).reshape(b * self.h, length, self.d)
        v = v.reshape(b, length, self.h, self.d).transpose(1, 2).reshape(b * self.h, length, self.d)
        attn = torch.bmm(F.softmax(torch.bmm(q, k.transpose(1, 2)) / self.d ** 0.5, dim=-1), v)
        attn = attn.view(b, length, self.e)  # bug: heads and positions spliced together
        return self.proj(attn)


def main():
    torch.manual_seed(0)
    model = SelfAttention()
    y = model(torch.randn(2, 5, 24))
    y.sum().backward()
    print(y.shape)


if __name__ == "__main__":
    main()
