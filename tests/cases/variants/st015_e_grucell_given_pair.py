"""ST015 variant: a GRUCell decoding loop given an (h, c) pair from an LSTM-style init."""

import torch
from torch import nn
from variant_work import forward, run


class Decoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.cell = nn.GRUCell(3, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):  # (batch, steps, 3)
        h = torch.zeros(x.size(0), 6)
        state = h if self.fixed else (h, torch.zeros_like(h))
        outs = []
        for t in range(x.size(1)):
            state = self.cell(x[:, t], state)  # culprit
            outs.append(self.out(state))
        return torch.stack(outs, 1)


def make(fixed=False):
    torch.manual_seed(0)
    model = Decoder(fixed)

    return model, forward(model, torch.randn(4, 5, 3))


if __name__ == "__main__":
    run(make)
