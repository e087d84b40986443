"""ST019 variant: a CNN classifier pools its (B, 16, 4, 4) feature map by hand with
``f.mean(0).flatten(1)`` where the spatial mean ``f.mean((2, 3))`` was meant: the mean
over the batch leaves (16, 4, 4), flattened to (16, 16), which the Linear(16, 10) head
takes as 16 samples; ``F.cross_entropy`` then raises on 16 rows against 4 labels
("Expected input batch_size (16) to match target batch_size (4)"). Fix: ``f.mean((2, 3))``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        f = self.features(x)  # (B, 16, 4, 4)
        if self.fixed:
            h = f.mean((2, 3))
        else:
            h = f.mean(0).flatten(1)  # culprit
        return self.fc(h)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))), batch_size=4)
    model = Net(fixed)

    def work():
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    import sys
    make("--fixed" in sys.argv)[1]()
