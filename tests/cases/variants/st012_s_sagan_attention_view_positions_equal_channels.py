"""ST012 variant: SAGAN-style spatial self-attention inside a small generator. The attention
output is (B, N, C), positions first, and is viewed back as (B, C, H, W) with the names the
forward gave its input (``b, c, h, w = x.shape``) but no transpose. N == H * W == C == 16, so
every bmm and the view line up. The fix: ``out.transpose(1, 2).reshape(b, c, h, w)``."""

import torch
from torch import nn
from variant_work import run


class SpatialSelfAttention(nn.Module):
    def __init__(self, c=16, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.q = nn.Conv2d(c, c // 4, 1)
        self.k = nn.Conv2d(c, c // 4, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        b, c, h, w = x.shape
        q = self.q(x).flatten(2).transpose(1, 2)  # (B, N, C')
        k = self.k(x).flatten(2)                  # (B, C', N)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (B, N, N)
        v = self.v(x).flatten(2)                  # (B, C, N)
        out = torch.bmm(attn, v.transpose(1, 2))  # (B, N, C)
        if self.fixed:
            out = out.transpose(1, 2).reshape(b, c, h, w)
        else:
            out = out.view(b, c, h, w)  # culprit
        return x + self.gamma * out


class TinyGenerator(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.attn = SpatialSelfAttention(16, fixed)
        self.to_rgb = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.to_rgb(self.attn(self.stem(x))))


def make(fixed=False):
    torch.manual_seed(0)
    model = TinyGenerator(fixed)

    def work():
        x = torch.randn(2, 3, 4, 4)
        y = model(x)
        y.pow(2).mean().backward()
        print(y.shape)

    return model, work


if __name__ == "__main__":
    run(make)
