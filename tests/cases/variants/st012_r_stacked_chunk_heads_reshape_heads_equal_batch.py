"""ST012 variant: heads made with ``torch.stack(t.chunk(H, dim=-1), dim=0)``, (H, B, T, d),
attended with a broadcast matmul, then merged with ``out.reshape(b, t, e)`` as if they were
(B, T, H, d). Heads == batch == 4: the sizes place the heads where the batch goes; the names
the forward gave its input's axes (``b, t, e = x.shape``) tell which is which. The fix:
``torch.cat(out.unbind(0), dim=-1)`` (``out.permute(1, 2, 0, 3).reshape(b, t, e)``)."""

import torch
from torch import nn
from variant_work import backward, run


class StackedHeads(nn.Module):
    def __init__(self, fixed=False, width=32, heads=4):
        super().__init__()
        self.h, self.fixed = heads, fixed
        self.qkv = nn.Linear(width, 3 * width)
        self.o = nn.Linear(width, width)

    def heads(self, t):
        return torch.stack(t.chunk(self.h, dim=-1), dim=0)  # (H, B, T, d)

    def forward(self, x):
        b, t, e = x.shape
        q, k, v = (self.heads(p) for p in self.qkv(x).chunk(3, dim=-1))
        w = (q @ k.transpose(-1, -2) / (e // self.h) ** 0.5).softmax(dim=-1)
        out = w @ v  # (H, B, T, d)
        if self.fixed:
            out = torch.cat(out.unbind(0), dim=-1)
        else:
            out = out.reshape(b, t, e)  # culprit
        return self.o(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = StackedHeads(fixed)
    return model, backward(model, torch.randn(4, 9, 32))


if __name__ == "__main__":
    run(make)
