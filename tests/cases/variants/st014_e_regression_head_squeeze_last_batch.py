"""ST014 variant (the "practical case" of squeeze in regression,
https://fedorkobak.github.io/python/torch/tensor/dimentionality/squeeze.html): a
regression net returns ``self.out(h).squeeze()`` to match a (batch,) target. The
loader's last batch holds one sample: (1, 1) squeezes to a 0-d tensor, and the
loss broadcasts it against the (1,) target without an error. Diagnosis: a bare
squeeze that drops the batch axis of a batch of one. Fix: ``.squeeze(1)`` (or
``squeeze(-1)``)."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.hidden = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.out = nn.Linear(8, 1)

    def forward(self, x):  # (batch, 4)
        y = self.out(self.hidden(x))
        if self.fixed:
            return y.squeeze(1)
        return y.squeeze()  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(9, 4), torch.randn(9)), batch_size=4)
    model = Regressor(fixed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def work():
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
