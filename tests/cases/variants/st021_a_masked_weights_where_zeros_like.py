"""ST021 variant: attention weights normalised over the queries (``softmax(dim=1)`` on
(batch, queries, keys) scores), then masked with a tensor fill,
``torch.where(keep, w, torch.zeros_like(w))``, and summed over the keys by ``w @ v``.
Fix: ``dim=-1``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class MaskedAttention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x, keep):  # (batch, T, 8), (batch, 1, T)
        scores = self.q(x) @ self.k(x).transpose(1, 2) / 8 ** 0.5
        if self.fixed:
            w = F.softmax(scores, dim=-1)
        else:
            w = F.softmax(scores, dim=1)  # culprit
        w = torch.where(keep, w, torch.zeros_like(w))
        return w @ self.v(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = MaskedAttention(fixed)
    keep = torch.ones(2, 1, 6, dtype=torch.bool)
    keep[1, :, 4:] = False
    return model, backward(model, torch.randn(2, 6, 8), keep)


if __name__ == "__main__":
    run(make)
