"""ST015 variant: a vanilla nn.RNN given an LSTM-style (h, c) pair built by a helper."""

import torch
from torch import nn
from variant_work import forward, run


class CharRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.RNN(5, 16)
        self.decoder = nn.Linear(16, 5)

    def init_state(self, batch):
        if self.fixed:
            return torch.zeros(1, batch, 16)
        return torch.zeros(1, batch, 16), torch.zeros(1, batch, 16)

    def forward(self, x):  # (time, batch, 5)
        out, _ = self.rnn(x, self.init_state(x.size(1)))  # culprit
        return self.decoder(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = CharRNN(fixed)

    return model, forward(model, torch.randn(7, 2, 5))


if __name__ == "__main__":
    run(make)
