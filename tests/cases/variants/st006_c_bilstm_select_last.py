"""ST006 variant: ``states.select(1, -1)`` on a batch_first bidirectional LSTM, with the
hidden size equal to the sequence length (8)."""

import torch
from torch import nn
from variant_work import forward, run


class Model(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.LSTM(3, 8, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):  # (batch, 8, 3)
        states, (h_n, _) = self.rnn(x)
        if self.fixed:
            last = torch.cat((h_n[-2, :, :], h_n[-1, :, :]), 1)
        else:
            last = states.select(1, -1)  # culprit
        return self.fc(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Model(fixed)

    return model, forward(model, torch.randn(2, 8, 3))


if __name__ == "__main__":
    run(make)
