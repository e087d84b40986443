"""ST025 variant: hand-written multi-head attention whose (B * H, L, L) scores come from bmm of
batch-major heads (``view(b, n, h, d).transpose(1, 2).reshape(b * h, n, d)``) masks them with a
per-sample padding mask repeated head-major, ``blocked.repeat(h, 1, 1)``: row h * B + b of the
mask meets row b * H + h of the scores. Heads == batch == 4: nothing raises. The fix:
``blocked.repeat_interleave(h, dim=0)``."""

import torch
from torch import nn
from variant_work import forward, run


class Attention(nn.Module):
    def __init__(self, fixed=False, width=32, heads=4):
        super().__init__()
        self.fixed, self.h, self.d = fixed, heads, width // heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.o = nn.Linear(width, width)

    def heads(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.h, self.d).transpose(1, 2).reshape(b * self.h, n, self.d)

    def forward(self, x, pad):  # x (B, L, E); pad (B, L) True = padding
        b, n, e = x.shape
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        scores = torch.bmm(q, k.transpose(1, 2)) / self.d ** 0.5
        blocked = pad[:, None, :].expand(b, n, n)
        if self.fixed:
            blocked = blocked.repeat_interleave(self.h, dim=0)
        else:
            blocked = blocked.repeat(self.h, 1, 1)  # culprit
        scores = scores.masked_fill(blocked, float("-inf"))
        out = torch.bmm(scores.softmax(-1), v).view(b, self.h, n, self.d).transpose(1, 2).reshape(b, n, e)
        return self.o(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = Attention(fixed)
    pad = torch.arange(6)[None, :] >= torch.tensor([6, 3, 5, 2])[:, None]
    return model, forward(model, torch.randn(4, 6, 32), pad)


if __name__ == "__main__":
    run(make)
