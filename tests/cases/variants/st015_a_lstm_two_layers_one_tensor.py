"""ST015 variant: a 2-layer seq-first LSTM given its zero state as one (layers, batch, hidden) tensor."""

import torch
from torch import nn
from variant_work import forward, run


class Tagger(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(6, 8, num_layers=2)
        self.out = nn.Linear(8, 3)

    def forward(self, x):  # (time, batch, 6)
        h0 = torch.zeros(2, x.size(1), 8)
        if self.fixed:
            y, _ = self.lstm(x, (h0, torch.zeros_like(h0)))
        else:
            y, _ = self.lstm(x, h0)  # culprit
        return self.out(y)


def make(fixed=False):
    torch.manual_seed(0)
    model = Tagger(fixed)

    return model, forward(model, torch.randn(5, 4, 6))


if __name__ == "__main__":
    run(make)
