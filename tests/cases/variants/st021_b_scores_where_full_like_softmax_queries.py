"""ST021 variant: causal self-attention by hand masks its scores with a tensor fill,
``torch.where(causal, scores, torch.full_like(scores, float("-inf")))``, then
normalises them with ``softmax(dim=-2)`` (over the queries) where the keys, ``dim=-1``,
were meant; ``attn @ v`` sums over the keys. Fix: ``dim=-1``."""

import torch
from torch import nn
from variant_work import backward, run


class CausalSelfAttention(nn.Module):
    def __init__(self, dim=16, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):  # (batch, T, dim)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        T = x.size(1)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
        scores = torch.where(causal, scores, torch.full_like(scores, float("-inf")))
        if self.fixed:
            attn = scores.softmax(dim=-1)
        else:
            attn = scores.softmax(dim=-2)  # culprit
        return attn @ v


def make(fixed=False):
    torch.manual_seed(0)
    model = CausalSelfAttention(fixed=fixed)
    return model, backward(model, torch.randn(2, 5, 16))


if __name__ == "__main__":
    run(make)
