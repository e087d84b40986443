"""ST002 variant: batch-first data (batch, time, features) from a DataLoader is turned
into the (time, batch, features) a default nn.LSTM takes with ``x.view(seq_len, batch,
-1)`` where ``x.transpose(0, 1)`` was meant: the sizes fit, the samples and steps mix."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import step


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(3, 16)  # seq-first
        self.head = nn.Linear(16, 1)

    def forward(self, x):  # (batch, seq_len, 3)
        batch, seq_len = x.size(0), x.size(1)
        if self.fixed:
            x = x.transpose(0, 1)
        else:
            x = x.view(seq_len, batch, -1)  # culprit
        out, _ = self.lstm(x)
        return self.head(out[-1])


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(8, 7, 3), torch.randn(8, 1)), batch_size=4)
    model = Forecaster(fixed)

    def work():
        for x, y in loader:
            step(nn.functional.mse_loss(model(x), y))

    return model, work


if __name__ == "__main__":
    import sys
    make("--fixed" in sys.argv)[1]()
