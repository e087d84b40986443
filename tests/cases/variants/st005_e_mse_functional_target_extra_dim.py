"""ST005 variant: the other way round: a (B,) prediction (squeezed logits) against a
(B, 1) target column, ``F.mse_loss`` broadcasting (B, B)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Value(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, s):
        return self.net(s).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    model = Value()

    def work():
        states, returns = torch.randn(10, 4), torch.randn(10, 1)
        if fixed:
            returns = returns.view(-1)
        step(F.mse_loss(model(states), returns))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
