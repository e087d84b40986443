"""ST001-class variant (a loop over time steps with nn.GRUCell, batch_first mismatch):
the data are (batch, steps, features) but the loop steps with ``x[t]`` for t in
range(x.size(0)), the seq-first habit: each "step" is one sample's whole sequence and the
cell batches over its time steps; the state is zeros(x.size(1), hidden), which fits that
reading, so the loop runs and the loss raises on (7, 1) predictions for 10 targets. Fix: step along dim 1, ``x[:, t]`` for t in range(x.size(1)),
with zeros(x.size(0), hidden)."""

import torch
from torch import nn
from variant_work import run

FEATURES, HIDDEN = 5, 12


class CellEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.cell = nn.GRUCell(FEATURES, HIDDEN)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # (batch, steps, features)
        if self.fixed:
            h = torch.zeros(x.size(0), HIDDEN)
            for t in range(x.size(1)):
                h = self.cell(x[:, t], h)
            return self.head(h)
        h = torch.zeros(x.size(1), HIDDEN)
        for t in range(x.size(0)):
            h = self.cell(x[t], h)  # culprit
        return self.head(h)


def make(fixed=False):
    torch.manual_seed(0)
    model = CellEncoder(fixed)
    x, y = torch.randn(30, 7, FEATURES), torch.randn(30, 1)

    def work():
        for i in range(0, 30, 10):
            loss = nn.functional.mse_loss(model(x[i:i + 10]), y[i:i + 10])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
