"""pytorch/examples' ``time_sequence_prediction``, rewritten: two ``LSTMCell``s
and a ``Linear`` stepped over a sine wave one sample at a time, the outputs
collected with ``torch.cat``: 999 steps, then 1,000 more predicting the future.

Each call is one step, so a trace holds thousands of calls; every view folds
the steps of the loop into one row or node (``lstm1: LSTMCell ×999``).

    shapetrace run demos/time_sequence_prediction.py
    shapetrace run demos/time_sequence_prediction.py --format svg -o sine.svg
    python demos/time_sequence_prediction.py --steps 100   # a shorter wave
"""

import argparse
import math

import torch
from torch import nn


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=input.dtype)
        c_t = torch.zeros(input.size(0), 51, dtype=input.dtype)
        h_t2 = torch.zeros(input.size(0), 51, dtype=input.dtype)
        c_t2 = torch.zeros(input.size(0), 51, dtype=input.dtype)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # predict the future from its own outputs
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def sine_waves(count=100, length=1000, period=20):
    """``count`` shifted sine waves of ``length`` samples: (count, length), float64."""
    shift = torch.randint(-4 * period, 4 * period, (count, 1))
    steps = torch.arange(length).unsqueeze(0) + shift
    return torch.sin(steps / period * math.pi * 2 / 2 / math.pi).double()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="samples per wave (default 1000)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data = sine_waves(length=args.steps)
    input, target = data[3:, :-1], data[3:, 1:]  # (97, steps - 1)
    test_input = data[:3, :-1]  # (3, steps - 1)
    seq = Sequence().double()
    optimizer = torch.optim.Adam(seq.parameters(), lr=0.01)
    loss = nn.MSELoss()(seq(input), target)  # one training step (the example runs LBFGS for 15)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        pred = seq(test_input, future=args.steps)  # (3, 2 * steps - 1)
    print(f"loss {loss.item():.4f}, prediction {tuple(pred.shape)}")


if __name__ == "__main__":
    main()
