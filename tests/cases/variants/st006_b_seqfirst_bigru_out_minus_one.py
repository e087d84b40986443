"""ST006 variant: a seq-first bidirectional GRU read at ``output[-1]``."""

import sys

import torch
from torch import nn


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

    def work():
        print(model(torch.randn(10, 3, 5)).shape)

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
