"""ST012 variant: multi-head attention pooling with learned queries, as set-transformer
and Perceiver-style heads pool a sequence. The queries, a parameter (Q, D), are projected
and split into heads once, (1, heads, Q, d), and broadcast against each sample's keys
(B, heads, d, T); the context (B, heads, Q, d) is merged with ``ctx.view(B, Q, D)``,
which splices heads and query slots together. Nothing raises. The fix:
``ctx.transpose(1, 2).reshape(B, Q, D)``."""

import math

import torch
from torch import nn
from variant_work import forward, run

DIM, HEADS, QUERIES = 24, 4, 3


class AttentionPool(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.h, self.d, self.nq = HEADS, DIM // HEADS, QUERIES
        self.queries = nn.Parameter(torch.randn(QUERIES, DIM))
        self.q, self.k, self.v = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)

    def forward(self, x):
        B, T, D = x.shape
        q = self.q(self.queries).view(self.nq, self.h, self.d).transpose(0, 1)
        k = self.k(x).view(B, T, self.h, self.d).transpose(1, 2)
        v = self.v(x).view(B, T, self.h, self.d).transpose(1, 2)
        attn = (q.unsqueeze(0) @ k.transpose(-1, -2) / math.sqrt(self.d)).softmax(dim=-1)
        ctx = attn @ v
        if self.fixed:
            return ctx.transpose(1, 2).reshape(B, self.nq, D)
        return ctx.view(B, self.nq, D)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = AttentionPool(fixed)
    return model, forward(model, torch.randn(5, 7, DIM))


if __name__ == "__main__":
    run(make)
