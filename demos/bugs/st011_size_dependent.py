"""ST011 size-dependent-call: a forward that branches on a size.

Long sequences get an extra projection, short ones skip it: a trace at one
length shows one path only. Vary the length to see both:

    shapetrace run demos.bugs.st011_size_dependent:LengthRouter --input BxTx4 --vary B=8,3 --vary T=48,12
"""

import torch
from torch import nn


class LengthRouter(nn.Module):
    def __init__(self, features=4, hidden=16, long_sequence=32):
        super().__init__()
        self.long_sequence = long_sequence
        self.encoder = nn.GRU(features, hidden, batch_first=True)
        self.summarise = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):  # (B, T, 4)
        output, _ = self.encoder(x)  # (B, T, 16)
        if x.size(1) > self.long_sequence:
            output = self.summarise(output)  # only for long inputs
        return self.head(output[:, -1])  # (B, 1)


if __name__ == "__main__":
    model = LengthRouter()
    for length in (48, 12):
        print(length, model(torch.randn(8, length, 4)).shape)
