"""ST005 variant ("Using a target size (torch.Size([16])) that is different to the input
size (torch.Size([16, 1])) is deprecated. Please ensure they have the same size."): a
binary classifier ends in ``nn.Linear(h, 1)`` and ``torch.sigmoid``, the labels come
from the DataLoader as (batch,), and ``nn.BCELoss()`` raises. Diagnosis: the (batch, 1)
output against a (batch,) target. Fix: ``labels.unsqueeze(1)`` (or squeeze(1) the output)."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make(fixed=False):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 6), (torch.rand(16) > 0.5).float())
    loader = DataLoader(data, batch_size=8)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 1), nn.Sigmoid())
    criterion = nn.BCELoss()

    def work():
        for x, labels in loader:
            if fixed:
                labels = labels.unsqueeze(1)
            loss = criterion(model(x), labels)  # culprit
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
