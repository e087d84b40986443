"""ST023 variant (data pipeline): the Dataset returns each row sliced 2-d, ``x[i:i + 1]``,
and the default collate stacks them into (B, 1, F); the classifier gives (B, 1, C) and
CrossEntropyLoss raises "Expected target size [12, 3], got [12]". Fix: return ``x[i]``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Table(Dataset):
    def __init__(self, fixed=False):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(36, 7, generator=g)
        self.y = torch.randint(0, 3, (36,), generator=g)
        self.fixed = fixed

    def __len__(self):
        return 36

    def __getitem__(self, i):
        row = self.x[i] if self.fixed else self.x[i:i + 1]
        return row, self.y[i]  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Table(fixed), batch_size=12)
    model = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 3))
    criterion = nn.CrossEntropyLoss()

    def work():
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
