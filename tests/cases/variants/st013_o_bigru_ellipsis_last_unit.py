"""ST013 variant: a bidirectional, batch_first GRU read with ``out[..., -1]`` (the last
feature, of the backward direction, at every step) where the final states were meant;
16 steps == 2 × hidden 8, so the Linear takes it. The help must not move the index to
the last step alone: there the backward direction has seen one step (ST006)."""

import torch
from torch import nn
from variant_work import run, train_step


class BiGRURegressor(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.GRU(3, 8, batch_first=True, bidirectional=True)
        self.reg = nn.Linear(16, 1)

    def forward(self, x):  # (batch, 16 steps, 3)
        out, h_n = self.rnn(x)
        if self.fixed:
            last = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        else:
            last = out[..., -1]  # culprit
        return self.reg(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = BiGRURegressor(fixed)

    return model, train_step(model, nn.SmoothL1Loss(), torch.randn(5, 16, 3), torch.randn(5, 1))


if __name__ == "__main__":
    run(make)
