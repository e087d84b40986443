"""ST003 variant, silent: a mask buffer ``torch.ones(batch_size, T)`` made in ``__init__``
for the training batch and multiplied into attention scores; 96 samples in batches of 32
never make a short batch, so nothing raises (a batch of 20 would).
Fix: ``torch.ones(1, T)``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

T, F = 10, 4


class Pooler(nn.Module):
    def __init__(self, batch_size, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.score = nn.Linear(F, 1)
        self.register_buffer("mask", torch.ones(batch_size, T))  # culprit
        self.register_buffer("mask_row", torch.ones(1, T))
        self.fc = nn.Linear(F, 2)

    def forward(self, x):
        s = self.score(x).squeeze(-1) * (self.mask_row if self.fixed else self.mask)
        w = torch.softmax(s, dim=1).unsqueeze(-1)
        return self.fc((w * x).sum(1))


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(96, T, F), torch.randint(0, 2, (96,))), batch_size=32)
    model = Pooler(32, fixed)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
