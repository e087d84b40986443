"""ST014 variant: a test loader with batch_size=1 (every pass a batch of one); a 3-D
feature (batch, 1, features) squeezed to (features,), then compared to a (1,) target
with a broadcasting loss."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run


class Regressor(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.enc = nn.Linear(6, 5)
        self.attn_pool = nn.Linear(5, 1)
        self.out = nn.Linear(5, 1)

    def forward(self, x):  # (batch, items, 6)
        h = torch.tanh(self.enc(x))
        w = torch.softmax(self.attn_pool(h), dim=1)  # (batch, items, 1)
        pooled = torch.bmm(w.transpose(1, 2), h)  # (batch, 1, 5)
        if self.fixed:
            pooled = pooled.squeeze(1)
        else:
            pooled = pooled.squeeze()  # culprit
        return self.out(pooled)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(3, 4, 6), torch.randn(3, 1)), batch_size=1)
    model = Regressor(fixed)

    def work():
        with torch.no_grad():
            for x, y in loader:
                print(nn.functional.mse_loss(model(x), y).item())

    return model, work


if __name__ == "__main__":
    run(make)
