"""ST015 variant: an LSTM encoder ported to a GRU still passes (h, c), as ``hx=``."""

import torch
from torch import nn
from variant_work import forward, run


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.GRU(4, 12, num_layers=2, batch_first=True)
        self.head = nn.Linear(12, 2)

    def forward(self, x):  # (batch, time, 4)
        h = torch.zeros(2, x.size(0), 12)
        c = torch.zeros(2, x.size(0), 12)
        if self.fixed:
            out, _ = self.rnn(x, hx=h)
        else:
            out, _ = self.rnn(x, hx=(h, c))  # culprit
        return self.head(out[:, -1])


def make(fixed=False):
    torch.manual_seed(0)
    model = Encoder(fixed)

    return model, forward(model, torch.randn(3, 9, 4))


if __name__ == "__main__":
    run(make)
