"""ST002 variant: hand-written attention folds the heads into the batch with
``torch.cat(t.split(d, dim=-1), dim=0)``, head-major (H * B, T, d), and unfolds them with
``out.view(b, self.h, t, self.d)``, batch-major: samples and heads are swapped, and every
size fits. The fix: ``torch.cat(out.split(b, dim=0), dim=-1)`` (or view the heads first:
``out.view(self.h, b, t, self.d).transpose(0, 1)``)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run


class SplitCatAttention(nn.Module):
    def __init__(self, width=24, heads=4, fixed=False):
        super().__init__()
        self.h, self.d, self.fixed = heads, width // heads, fixed
        self.q, self.k, self.v = (nn.Linear(width, width) for _ in range(3))
        self.o = nn.Linear(width, width)

    def fold(self, t):  # (B, T, H*d) -> (H*B, T, d), head-major
        return torch.cat(t.split(self.d, dim=-1), dim=0)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.fold(self.q(x)), self.fold(self.k(x)), self.fold(self.v(x))
        w = F.softmax(torch.bmm(q, k.transpose(1, 2)) / self.d ** 0.5, dim=-1)
        out = torch.bmm(w, v)  # (H*B, T, d)
        if self.fixed:
            out = torch.cat(out.split(b, dim=0), dim=-1)
        else:
            out = out.view(b, self.h, t, self.d).permute(0, 2, 1, 3).reshape(b, t, -1)  # culprit
        return self.o(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = SplitCatAttention(fixed=fixed)

    def work():
        x = torch.randn(2, 5, 24)
        y = model(x)
        y.sum().backward()
        print(y.shape)

    return model, work


if __name__ == "__main__":
    run(make)
