"""ST002 variant (tokenlearner-pytorch issue #1, https://github.com/rish-16/tokenlearner-pytorch/issues/1):
learned tokens (batch, tokens, channels) handed to a seq-first ``nn.MultiheadAttention``
with ``y.view(tokens, batch, channels)``. The sizes fit, but a view only relabels
memory: each "sequence" is a slice of the batch-major tokens, so attention mixes
samples. Diagnosis: a view where a transpose was meant. Fix: ``y.transpose(0, 1)``
(and back after the attention)."""

import torch
from torch import nn
from variant_work import run, train_step


class TokenMixer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.proj = nn.Linear(6, 8)
        self.mhsa = nn.MultiheadAttention(8, 2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # (batch, tokens, 6)
        y = self.proj(x)
        b, n, c = y.shape
        if self.fixed:
            y = y.transpose(0, 1)
        else:
            y = y.view(n, b, c)  # culprit
        y, _ = self.mhsa(y, y, y)
        y = y.transpose(0, 1)  # (batch, tokens, 8)
        return self.head(y.mean(dim=1))


def make(fixed=False):
    torch.manual_seed(0)
    model = TokenMixer(fixed)

    x, y = torch.randn(4, 5, 6), torch.randint(0, 3, (4,))
    return model, train_step(model, nn.functional.cross_entropy, x, y)


if __name__ == "__main__":
    run(make)
