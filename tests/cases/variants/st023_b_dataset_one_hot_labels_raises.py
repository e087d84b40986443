"""ST023 variant (data pipeline): the Dataset one-hot encodes each label with
``F.one_hot`` (int64, (C,)), so CrossEntropyLoss gets (B, C) integer targets where it takes
class indices (B,) and raises "Expected floating point type for target with class
probabilities, got Long". Fix: return the class index."""
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

CLASSES = 5


class Samples(Dataset):
    def __init__(self, fixed=False):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(30, 12, generator=g)
        self.y = torch.randint(0, CLASSES, (30,), generator=g)
        self.fixed = fixed

    def __len__(self):
        return 30

    def __getitem__(self, i):
        label = self.y[i] if self.fixed else F.one_hot(self.y[i], CLASSES)
        return self.x[i], label  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Samples(fixed), batch_size=8)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, CLASSES))
    criterion = nn.CrossEntropyLoss()

    def work():
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
