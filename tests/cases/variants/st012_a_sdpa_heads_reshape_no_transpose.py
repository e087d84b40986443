"""ST012 variant: heads merged with ``reshape(B, L, E)`` straight from the (B, H, L, d)
output of scaled_dot_product_attention, without the transpose(1, 2)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class SelfAttention(nn.Module):
    def __init__(self, embed=32, heads=4, fixed=False):
        super().__init__()
        self.h, self.d, self.fixed = heads, embed // heads, fixed
        self.qkv = nn.Linear(embed, 3 * embed)
        self.out = nn.Linear(embed, embed)

    def forward(self, x):  # (B, L, E)
        B, L, E = x.shape
        q, k, v = self.qkv(x).split(E, dim=-1)
        q, k, v = (t.view(B, L, self.h, self.d).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, L, d)
        if self.fixed:
            y = y.transpose(1, 2).reshape(B, L, E)
        else:
            y = y.reshape(B, L, E)  # culprit
        return self.out(y)


def make(fixed=False):
    torch.manual_seed(0)
    model = SelfAttention(fixed=fixed)

    return model, backward(model, torch.randn(2, 5, 32))


if __name__ == "__main__":
    run(make)
