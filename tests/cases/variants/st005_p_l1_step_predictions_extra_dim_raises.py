"""ST005 variant, loud: per-step predictions (B, T, 1) from a GRU and a Linear against
per-step targets (B, T) with ``F.l1_loss``; lined up from the right, T meets B and PyTorch
raises (with B == T it would have broadcast to (B, T, T) silently)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class StepRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 16, batch_first=True)
        self.lin = nn.Linear(16, 1)

    def forward(self, x):  # (B, T, 4) -> (B, T, 1)
        return self.lin(self.gru(x)[0])


def make(fixed=False):
    torch.manual_seed(0)
    model = StepRegressor()

    def work():
        x, target = torch.randn(6, 20, 4), torch.randn(6, 20)
        pred = model(x)
        if fixed:
            pred = pred.squeeze(-1)
        step(F.l1_loss(pred, target))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
