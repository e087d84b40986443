"""ST005 variant, the other way round: the model squeezes its head to (batch,) and the
targets come from the dataset as (batch, 1) columns; ``F.l1_loss(pred, target)``
broadcasts to (batch, batch) with only a UserWarning. Fix: ``target.squeeze(1)``."""

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Price(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.mlp(x).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(12, 5), torch.randn(12, 1)), batch_size=6)
    model = Price()

    def work():
        for x, target in loader:
            if fixed:
                target = target.squeeze(1)
            loss = F.l1_loss(model(x), target)  # culprit
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
