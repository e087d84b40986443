"""ST012 variant: hand-written multi-head self-attention (no einops) that splits the heads
right, ``view(B, T, H, D).transpose(1, 2)``, but merges them back with
``out.reshape(B, T, C)`` on the (B, H, T, D) result without ``transpose(1, 2)``: each
token's row is then made of one head's values of several tokens. Reports: "reshape vs
permute attention heads"."""

import math

import torch
from torch import nn
from variant_work import backward, run


class SelfAttention(nn.Module):
    def __init__(self, dim=32, heads=4, fixed=False):
        super().__init__()
        self.heads, self.fixed = heads, fixed
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, T, C)
        B, T, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        out = att.softmax(dim=-1) @ v  # (B, H, T, D)
        if self.fixed:
            out = out.transpose(1, 2).reshape(B, T, C)
        else:
            out = out.reshape(B, T, C)  # culprit
        return self.proj(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = SelfAttention(fixed=fixed)
    return model, backward(model, torch.randn(2, 6, 32))


if __name__ == "__main__":
    run(make)
