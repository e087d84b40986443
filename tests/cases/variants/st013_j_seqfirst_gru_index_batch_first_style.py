"""ST013 variant (a batch_first habit on a seq-first GRU): the GRU keeps PyTorch's
default layout and is fed (steps, batch, features) as it expects, but the last step
is read with ``out[:, -1]``, the batch_first spelling. On (steps, batch, hidden)
that takes the last sample at every step, (steps, hidden); the loss then sees 9
"samples" against 6 targets and raises "Expected input batch_size (9) to match
target batch_size (6)", far from the cause. Diagnosis: an index on the batch axis
where the time axis was meant (the layout itself is right: the data is seq-first).
Fix: ``out[-1]``."""

import sys

import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(4, 10)
        self.head = nn.Linear(10, 3)

    def forward(self, x):  # (9 steps, batch, 4)
        out, _ = self.gru(x)
        if self.fixed:
            last = out[-1]
        else:
            last = out[:, -1]  # culprit
        return self.head(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Classifier(fixed)

    def work():
        for _ in range(2):
            x, y = torch.randn(9, 6, 4), torch.randint(0, 3, (6,))
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
