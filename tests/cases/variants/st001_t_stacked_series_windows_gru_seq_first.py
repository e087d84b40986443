"""ST001 variant: a load forecaster samples windows of a multivariate series, stacks them,
``torch.stack([series[s:s + WINDOW] for s in starts])`` (batch, WINDOW, features), and feeds a
GRU left at the default ``batch_first=False``: it recurs across the windows of the batch and
takes the steps of each window as its batch. Batch == window == 16, so nothing raises. The fix:
``nn.GRU(FEATURES, 24, batch_first=True)``."""

import torch
from torch import nn
from variant_work import run

WINDOW, BATCH, FEATURES = 16, 16, 3


class LoadForecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.gru = nn.GRU(FEATURES, 24, batch_first=fixed)
        self.head = nn.Linear(24, 1)

    def forward(self, windows):
        out, h_n = self.gru(windows)  # culprit
        return self.head(h_n[-1]).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    t = torch.arange(400, dtype=torch.float32)
    series = torch.stack([torch.sin(t / 12), torch.cos(t / 30), torch.randn(400) * 0.1], dim=1)  # (400, 3)
    model = LoadForecaster(fixed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def work():
        for _ in range(3):
            starts = torch.randint(0, 400 - WINDOW - 1, (BATCH,)).tolist()
            windows = torch.stack([series[s : s + WINDOW] for s in starts])
            target = series[[s + WINDOW for s in starts], 0]
            loss = nn.functional.mse_loss(model(windows), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    run(make)
