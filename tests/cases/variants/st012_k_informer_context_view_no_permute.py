"""ST012 variant (https://github.com/zhouhaoyi/Informer2020/issues/100, confirmed and fixed
by the authors): a time-series encoder's attention returns its context heads-first,
(B, H, L, D), and the attention layer concatenates the heads with ``out.view(B, L, -1)``.
The view keeps memory order, so each of the L rows holds pieces of one head over several
time steps. Nothing raises (the context is contiguous). Fix: permute the context to
(B, L, H, D) first (the authors return it that way from the attention)."""

import torch
from torch import nn
from variant_work import backward, run

D_MODEL, N_HEADS = 24, 3


class FullAttention(nn.Module):
    def forward(self, queries, keys, values):  # (B, H, L, D)
        scale = queries.size(-1) ** -0.5
        scores = torch.matmul(queries, keys.transpose(-1, -2)) * scale
        return torch.matmul(torch.softmax(scores, dim=-1), values)


class AttentionLayer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.inner = FullAttention()
        self.query, self.key, self.value = (nn.Linear(D_MODEL, D_MODEL) for _ in range(3))
        self.out = nn.Linear(D_MODEL, D_MODEL)
        self.n_heads = N_HEADS

    def forward(self, x):  # (B, L, d_model)
        B, L, _ = x.shape
        H = self.n_heads
        q = self.query(x).view(B, L, H, -1).permute(0, 2, 1, 3)
        k = self.key(x).view(B, L, H, -1).permute(0, 2, 1, 3)
        v = self.value(x).view(B, L, H, -1).permute(0, 2, 1, 3)
        out = self.inner(q, k, v)
        if self.fixed:
            out = out.permute(0, 2, 1, 3).contiguous()
        out = out.view(B, L, -1)  # culprit
        return self.out(out)


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Linear(5, D_MODEL)
        self.attention = AttentionLayer(fixed)
        self.projection = nn.Linear(D_MODEL, 1)

    def forward(self, series):
        h = self.embed(series)
        return self.projection(h + self.attention(h))


def make(fixed=False):
    torch.manual_seed(0)
    model = Forecaster(fixed)
    return model, backward(model, torch.randn(2, 12, 5))


if __name__ == "__main__":
    run(make)
