"""ST013 variant: ``out.narrow(2, -1, 1)`` keeps the last hidden unit of each step, where
``out.narrow(1, -1, 1)`` (the last step) was meant; then flattened per sample."""

import torch
from torch import nn
from variant_work import forward, run


class Model(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(2, 20, batch_first=True)
        self.fc = nn.Linear(20, 3)

    def forward(self, x):  # (batch, 20 steps, 2)
        out, _ = self.gru(x)
        if self.fixed:
            last = out.narrow(1, -1, 1)
        else:
            last = out.narrow(2, -1, 1)  # culprit
        return self.fc(last.flatten(1))


def make(fixed=False):
    torch.manual_seed(0)
    model = Model(fixed)

    return model, forward(model, torch.randn(4, 20, 2))


if __name__ == "__main__":
    run(make)
