"""ST015 recurrent-state-structure: an LSTM given one state tensor.

A forecaster ported from a GRU keeps passing its initial state as one
tensor. nn.LSTM takes the pair (h_0, c_0): it unpacks the tensor along
dim 0, and PyTorch raises an IndexError that names neither.

    shapetrace run demos/bugs/st015_recurrent_state.py
"""

import torch
from torch import nn


class StepForecaster(nn.Module):
    def __init__(self, n_features=3, hidden_size=16):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.LSTM(n_features, hidden_size, batch_first=True)  # was nn.GRU
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):  # x: (batch, hours, features)
        h_0 = torch.zeros(1, x.size(0), self.hidden_size)
        out, _ = self.rnn(x, h_0)  # bug: an LSTM takes (h_0, c_0)
        return self.head(out[:, -1])


def main():
    torch.manual_seed(0)
    model = StepForecaster()
    print(model(torch.randn(8, 24, 3)).shape)


if __name__ == "__main__":
    main()
