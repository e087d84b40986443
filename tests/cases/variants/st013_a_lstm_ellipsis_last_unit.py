"""ST013 variant: a batch_first LSTM read with ``out[..., -1]`` (the last hidden unit of
every step) where the last step was meant; window 16 == hidden 16, so it runs."""

import torch
from torch import nn
from variant_work import run, train_step


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(4, 16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x):  # (batch, 16 steps, 4)
        out, _ = self.lstm(x)
        if self.fixed:
            last = out[:, -1]
        else:
            last = out[..., -1]  # culprit
        return self.head(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Forecaster(fixed)

    return model, train_step(model, nn.MSELoss(), torch.randn(8, 16, 4), torch.randn(8, 1))


if __name__ == "__main__":
    run(make)
