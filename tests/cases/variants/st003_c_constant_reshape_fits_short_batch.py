"""ST003 variant: a 1-d CNN flattens with a module-level ``BATCH`` constant,
``x.reshape(BATCH, -1)``. The DataLoader's last batch is short (100 = 3 x 32 + 4),
and 4 samples of (4, 50) features reshape to (32, 25) without an error: the Linear
after it raises on its 25 features, one line away from the cause."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

BATCH = 32


class CNN(nn.Module):
    def __init__(self, fixed):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 50, 2)

    def forward(self, x):
        x = self.conv(x.unsqueeze(1))
        if self.fixed:
            return self.fc(x.reshape(x.size(0), -1))
        return self.fc(x.reshape(BATCH, -1))  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = CNN(fixed)
    data = TensorDataset(torch.randn(100, 50), torch.randint(0, 2, (100,)))

    def work():
        for x, y in DataLoader(data, batch_size=BATCH):
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
