"""ST002 variant: batch-first windows turned seq-first for a GRU with ``x.view(t, b, f)``
where ``x.transpose(0, 1)`` was meant; batch 8 == window 8, so by sizes alone the
view changes nothing: only the names the function gave the dims tell."""

import torch
from torch import nn
from variant_work import run, train_step


class SeqFirstGRU(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(3, 5)
        self.out = nn.Linear(5, 1)

    def forward(self, x):  # (batch, window, 3)
        b, t, f = x.shape
        if self.fixed:
            seq = x.transpose(0, 1)
        else:
            seq = x.view(t, b, f)  # culprit
        out, _ = self.gru(seq)
        return self.out(out[-1])


def make(fixed=False):
    torch.manual_seed(0)
    model = SeqFirstGRU(fixed)

    return model, train_step(model, nn.functional.mse_loss, torch.randn(8, 8, 3), torch.randn(8, 1))


if __name__ == "__main__":
    run(make)
