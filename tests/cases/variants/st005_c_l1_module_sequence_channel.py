"""ST005 variant: a seq2seq forecaster outputs (B, T, 1); the target is (B, T);
``nn.L1Loss()`` broadcasts (B, T, T). Batch 6 == horizon 6."""

import torch
from torch import nn
from variant_work import run, step


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(2, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out)  # (B, T, 1)


def make(fixed=False):
    torch.manual_seed(0)
    model = Forecaster()
    loss_fn = nn.L1Loss()

    def work():
        x, y = torch.randn(6, 6, 2), torch.randn(6, 6)
        pred = model(x)
        if fixed:
            pred = pred.squeeze(-1)
        step(loss_fn(pred, y))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
