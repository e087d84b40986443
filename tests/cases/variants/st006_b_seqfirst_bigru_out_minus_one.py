"""ST006 variant: a seq-first bidirectional GRU read at ``output[-1]``."""

import torch
from torch import nn
from variant_work import forward, run


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(5, 8, bidirectional=True)
        self.proj = nn.Linear(16, 4)

    def forward(self, x):  # (time, batch, 5)
        output, h_n = self.gru(x)
        if self.fixed:
            return self.proj(torch.cat([h_n[0], h_n[1]], dim=-1))
        return self.proj(output[-1])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = Encoder(fixed)

    return model, forward(model, torch.randn(10, 3, 5))


if __name__ == "__main__":
    run(make)
