"""ST003 variant (a loop over time steps with nn.LSTMCell): h and c are made as
zeros(BATCH, hidden) from a constant; 20 samples in batches of 6 leave a last batch of 2
and the cell raises "Input batch size 2 doesn't match hidden0 batch size 6". Fix:
zeros(x.size(0), hidden)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

BATCH, FEATURES, HIDDEN = 6, 4, 12


class CellForecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.cell = nn.LSTMCell(FEATURES, HIDDEN)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # (batch, steps, features)
        if self.fixed:
            h, c = torch.zeros(x.size(0), HIDDEN), torch.zeros(x.size(0), HIDDEN)
        else:
            h, c = torch.zeros(BATCH, HIDDEN), torch.zeros(BATCH, HIDDEN)  # culprit
        for t in range(x.size(1)):
            h, c = self.cell(x[:, t, :], (h, c))
        return self.head(h)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(20, 5, FEATURES), torch.randn(20, 1)), batch_size=BATCH)
    model = CellForecaster(fixed)

    def work():
        for x, y in loader:
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
