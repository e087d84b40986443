"""ST005 variant: a tabular regressor predicts (B, 1); its DataLoader yields the targets as (B,),
which the loop turns into a row, ``y.view(1, -1)``, (1, B), for a squared error written by hand.
``pred - y`` broadcasts to (B, B): every prediction against every sample's target, then ``.mean()``.
Both operands have a size-1 dim written out, the layout of a loss over all pairs; the DataLoader's
batch is dim 0 of the one and dim 1 of the other. The fix: ``((pred - y.view(-1, 1)) ** 2).mean()``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    features, targets = torch.randn(20, 5), torch.randn(20)
    loader = DataLoader(TensorDataset(features, targets), batch_size=5)

    def loss_of(x, y):
        pred = model(x)
        y = y.view(-1, 1) if fixed else y.view(1, -1)
        if fixed:
            return ((pred - y) ** 2).mean()
        return ((pred - y) ** 2).mean()  # culprit

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
