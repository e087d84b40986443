"""ST013 variant: a sensor model (Linear embedding, one hand-written self-attention block,
scores ``q @ k.transpose(-2, -1)``) reads its summary token as ``h[..., 0]``, feature 0 of
every step, where ``h[:, 0]`` (step 0, the token it prepends) was meant. Steps == width == 16,
so the head's Linear(16, 3) takes the (B, T) result silently."""

import torch
from torch import nn
from variant_work import forward, run


class SelfAttention(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
        return self.out(scores.softmax(dim=-1) @ v)


class SensorNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Linear(4, 16)
        self.summary = nn.Parameter(torch.zeros(1, 1, 16))
        self.attn = SelfAttention(16)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):  # (batch, 15 readings, 4 sensors)
        h = self.embed(x)
        h = torch.cat([self.summary.expand(h.size(0), -1, -1), h], dim=1)  # (batch, 16, 16)
        h = self.norm(h + self.attn(h))
        if self.fixed:
            token = h[:, 0]
        else:
            token = h[..., 0]  # culprit
        return self.head(token)


def make(fixed=False):
    torch.manual_seed(0)
    model = SensorNet(fixed)
    return model, forward(model, torch.randn(6, 15, 4))


if __name__ == "__main__":
    run(make)
