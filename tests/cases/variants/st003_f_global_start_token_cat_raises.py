"""ST003 variant: a global start-token tensor ``torch.zeros(BATCH, 1, D)`` concatenated in
front of each sequence; the short last batch raises at ``torch.cat``, not at the global.
Fix: build it with 1 in dim 0 and expand it to ``x.size(0)`` where it is joined."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH, T, D = 8, 12, 6
START = torch.zeros(BATCH, 1, D)  # culprit


class Tagger(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(D, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        start = START[: x.size(0)] if self.fixed else START
        x = torch.cat([start, x], dim=1)
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(30, T, D), torch.randint(0, 3, (30,))), batch_size=BATCH)
    model = Tagger(fixed)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
