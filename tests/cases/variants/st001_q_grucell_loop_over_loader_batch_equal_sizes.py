"""ST001 variant: a sensor classifier steps an ``nn.GRUCell`` with the seq-first habit on batch-first
DataLoader windows (batch, time, features): ``for t in range(x.size(0)): h = self.cell(x[t], h)``
hands the cell one whole sample per step and carries the state across the samples. Batch ==
steps == 12, so every shape fits and nothing raises. The fix: step along dim 1, ``x[:, t]`` for t in
``range(x.size(1))``."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

STEPS, BATCH, FEAT, HID, CLASSES = 12, 12, 6, 20, 4


class SensorNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.cell = nn.GRUCell(FEAT, HID)
        self.head = nn.Linear(HID, CLASSES)

    def forward(self, x):  # (batch, time, feat)
        h = torch.zeros(x.size(0), HID)
        if self.fixed:
            for t in range(x.size(1)):
                h = self.cell(x[:, t], h)
        else:
            for t in range(x.size(0)):
                h = self.cell(x[t], h)  # culprit
        return self.head(h)


def make(fixed=False):
    torch.manual_seed(0)
    xs = torch.randn(48, STEPS, FEAT)
    ys = torch.randint(0, CLASSES, (48,))
    loader = DataLoader(TensorDataset(xs, ys), batch_size=BATCH)
    model = SensorNet(fixed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
