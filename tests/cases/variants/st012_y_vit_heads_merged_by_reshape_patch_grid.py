"""ST012 variant: a small ViT's attention merges its heads with ``out.reshape(B, N, C)`` on
(B, heads, N, head_dim), without moving the heads next to head_dim first: each token's row
is spliced from one head's values of several tokens. N is the 5x5 patches that
``flatten(2)`` merged into one dim. Nothing raises. The fix:
``out.transpose(1, 2).reshape(B, N, C)``."""

import torch
from torch import nn
from variant_work import backward, run

IMAGE, PATCH, DIM, HEADS = 40, 8, 64, 4


class Attention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed, self.heads = fixed, HEADS
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        out = (q @ k.transpose(-2, -1) * (C // self.heads) ** -0.5).softmax(dim=-1) @ v
        if self.fixed:
            out = out.transpose(1, 2).reshape(B, N, C)
        else:
            out = out.reshape(B, N, C)  # culprit
        return self.proj(out)


class TinyViT(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.patch = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.pos = nn.Parameter(torch.zeros(1, (IMAGE // PATCH) ** 2, DIM))
        self.attn = Attention(fixed)
        self.head = nn.Linear(DIM, 10)

    def forward(self, images):
        x = self.patch(images).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.attn(x).mean(dim=1))


def make(fixed=False):
    torch.manual_seed(0)
    model = TinyViT(fixed)
    return model, backward(model, torch.randn(3, 3, IMAGE, IMAGE))


if __name__ == "__main__":
    run(make)
