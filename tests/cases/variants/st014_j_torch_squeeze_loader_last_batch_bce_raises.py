"""ST014 variant ("Target size (torch.Size([1])) must be the same as input size
(torch.Size([]))"): the training loop squeezes the model's (batch, 1) logits with
``torch.squeeze(model(x))`` before ``nn.BCEWithLogitsLoss``; the last batch of the
loader holds one sample and the squeeze drops its batch axis. Fix: ``torch.squeeze(model(x), 1)``."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(9, 4), (torch.rand(9) > 0.5).float()), batch_size=4)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    criterion = nn.BCEWithLogitsLoss()

    def work():
        for x, y in loader:
            if fixed:
                logits = torch.squeeze(model(x), 1)
            else:
                logits = torch.squeeze(model(x))  # culprit
            loss = criterion(logits, y)
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
