"""ST005 variant: the loss imported by name at the top (``from torch.nn.functional
import mse_loss``): a (B, 1) price head trained against a (B,) target, (B, B)
compared. The name is bound before any tracing starts."""

import torch
from torch import nn
from torch.nn.functional import mse_loss
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))

    def work():
        features, prices = torch.randn(14, 6), torch.randn(14)
        if fixed:
            prices = prices.unsqueeze(-1)
        step(mse_loss(model(features), prices))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
