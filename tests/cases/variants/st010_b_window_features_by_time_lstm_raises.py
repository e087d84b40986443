"""ST010 variant (data pipeline): a time-series window Dataset slices ``series[:, i:i + T]``
of a (features, N) array, so each window is (features, T) where the batch_first LSTM takes
(T, features); the LSTM raises "input.size(-1) must be equal to input_size. Expected 3,
got 24". Fix: ``window.T`` (or ``transpose(0, 1)``) in ``__getitem__``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

FEATURES, T = 3, 24


class Windows(Dataset):
    def __init__(self, fixed=False):
        g = torch.Generator().manual_seed(0)
        self.series = torch.randn(FEATURES, 200, generator=g)  # one row per sensor
        self.fixed = fixed

    def __len__(self):
        return 200 - T

    def __getitem__(self, i):
        window = self.series[:, i:i + T]
        if self.fixed:
            window = window.T
        return window, self.series[0, i + T]  # culprit


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, 16, batch_first=True)
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1]).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Windows(fixed), batch_size=32)
    model = Forecaster()

    def work():
        for x, y in loader:
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
