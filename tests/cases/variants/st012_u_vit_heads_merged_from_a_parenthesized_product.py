"""ST012 variant: a ViT attention block merges its heads with ``(attn @ v).reshape(B, N, C)``,
leaving out the ``.transpose(1, 2)`` that brings the tokens before the heads: each token's
row is spliced from several heads' rows of other tokens. Nothing raises. The product is in
parentheses, as people write it; the fix keeps them:
``(attn @ v).transpose(1, 2).reshape(B, N, C)``."""

import torch
from torch import nn
from variant_work import forward, run

DIM, HEADS = 48, 6


class Attention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.num_heads, self.head_dim = HEADS, DIM // HEADS
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1) * self.head_dim**-0.5).softmax(dim=-1)
        if self.fixed:
            x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        else:
            x = (attn @ v).reshape(B, N, C)  # culprit
        return self.proj(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = Attention(fixed)
    return model, forward(model, torch.randn(4, 17, DIM))


if __name__ == "__main__":
    run(make)
