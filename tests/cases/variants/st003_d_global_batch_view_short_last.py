"""ST003 variant: a CNN flattens with ``x.view(BATCH_SIZE, -1)``, BATCH_SIZE a global equal
to the loader's batch size; 100 images in batches of 16 end with a batch of 4, the view
still fits (16 * 49) and the Linear raises far from the cause. Fix: ``x.view(x.size(0), -1)``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 16


class Net(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        if self.fixed:
            x = x.view(x.size(0), -1)
        else:
            x = x.view(BATCH_SIZE, -1)  # culprit
        return self.fc(x)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(100, 1, 14, 14), torch.randint(0, 10, (100,))), batch_size=BATCH_SIZE)
    model = Net(fixed)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
