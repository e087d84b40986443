"""ST010 feature-mismatch: a univariate series without its feature dim.

The article's input is (batch_size, seq_len) = (5, 30); the LSTM wants
(batch, seq_len, input_size) with input_size=1. Passed as it is, the 2-d
input reads as one unbatched sequence of 5 steps with 30 features, and
PyTorch raises ``input.size(-1) must be equal to input_size``.

    shapetrace run demos/bugs/st010_feature_mismatch.py
"""

import math

import torch
from torch import nn


class Forecaster(nn.Module):
    def __init__(self, hidden_size=64):
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, input_seq):  # input_seq: (batch_size, seq_len)
        output, _ = self.lstm(input_seq)  # bug: input_seq.unsqueeze(-1) is (batch, seq_len, 1)
        return self.linear(output[:, -1, :])


def main():
    t = torch.arange(5 * 30, dtype=torch.float32)
    input_seq = (0.5 + 0.4 * torch.sin(2 * math.pi * t / 24)).view(5, 30)
    print(Forecaster()(input_seq).shape)


if __name__ == "__main__":
    main()
