"""ST002 variant (the class of case09, other spelling): heads are folded into the batch
as (B * H, T, D), batch-major (``transpose(1, 2).reshape(B * H, T, D)``), for ``torch.bmm``,
then split back with ``out.view(H, B, T, D)``, heads first: the sizes fit only because
the split is read in the wrong order; samples and heads mix."""

import torch
from torch import nn
from variant_work import backward, run


class BmmAttention(nn.Module):
    def __init__(self, dim=24, heads=3, fixed=False):
        super().__init__()
        self.h, self.fixed = heads, fixed
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def split(self, x, B, T, D):
        return x.view(B, T, self.h, D).transpose(1, 2).reshape(B * self.h, T, D)

    def forward(self, x):  # (B, T, dim)
        B, T, E = x.shape
        D = E // self.h
        q, k, v = (self.split(f(x), B, T, D) for f in (self.q, self.k, self.v))
        w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / D ** 0.5, dim=-1)
        out = torch.bmm(w, v)  # (B * h, T, D)
        if self.fixed:
            out = out.view(B, self.h, T, D).permute(0, 2, 1, 3)
        else:
            out = out.view(self.h, B, T, D).permute(1, 2, 0, 3)  # culprit
        return self.o(out.reshape(B, T, E))


def make(fixed=False):
    torch.manual_seed(0)
    model = BmmAttention(fixed=fixed)
    return model, backward(model, torch.randn(2, 5, 24))


if __name__ == "__main__":
    run(make)
