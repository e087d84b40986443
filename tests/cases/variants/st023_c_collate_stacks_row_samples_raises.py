"""ST023 variant (data pipeline): a custom collate_fn ``torch.stack``s samples that are
already (1, F) rows (``x[i:i + 1]``), so batches are (B, 1, F); the classifier gives
(B, 1, C) and CrossEntropyLoss reads the unit dim as the classes: "Expected target size
[12, 3], got [12]". Fix: ``torch.cat`` the rows in the collate_fn."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Table(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(36, 7, generator=g)
        self.y = torch.randint(0, 3, (36,), generator=g)

    def __len__(self):
        return 36

    def __getitem__(self, i):
        return self.x[i:i + 1], self.y[i]


def make_collate(fixed):
    join = torch.cat if fixed else torch.stack

    def collate(batch):
        xs, ys = zip(*batch)
        return join(xs), torch.stack(ys)  # culprit
    return collate


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Table(), batch_size=12, collate_fn=make_collate(fixed))
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
