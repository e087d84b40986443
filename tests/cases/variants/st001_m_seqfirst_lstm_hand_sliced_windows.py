"""ST001 variant (known miss (b); https://github.com/HarryVolek/PyTorch_Speaker_Verification/issues/47
asks the same): a forecaster whose windows are stacked by hand into (n, window, 1) and
sliced into batches of 16 with no DataLoader. The LSTM keeps batch_first=False, so it steps
through the 16 windows of a batch and batches over the 12 steps of a window; the head reads
``out[:, -1]`` (the batch-first habit), which is then (16, hidden) and matches the 16 targets,
so nothing raises. Fix: nn.LSTM(..., batch_first=True)."""

import torch
from torch import nn
from variant_work import run

WINDOW, BATCH = 12, 16


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.lstm = nn.LSTM(1, 32, num_layers=2, batch_first=fixed)
        self.linear = nn.Linear(32, 1)

    def forward(self, x):
        out, _ = self.lstm(x)  # culprit
        return self.linear(out[:, -1])


def make(fixed=False):
    torch.manual_seed(0)
    series = torch.sin(torch.arange(0, 80, 0.5))
    X = torch.stack([series[i:i + WINDOW] for i in range(len(series) - WINDOW)]).unsqueeze(-1)
    Y = torch.stack([series[i + WINDOW] for i in range(len(series) - WINDOW)]).unsqueeze(-1)
    model = Forecaster(fixed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        for i in range(0, len(X), BATCH):
            xb, yb = X[i:i + BATCH], Y[i:i + BATCH]
            loss = nn.functional.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    run(make)
