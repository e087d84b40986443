"""ST013 variant: a Conv1d encoder's output is (batch, channels, length); the head reads
``feats[:, -1, :]`` as if it were (batch, length, channels) to take the last position,
and gets the last channel at every position. Silent because length == channels == 32."""

import torch
from torch import nn
from variant_work import run, train_step


class TemporalConvNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Sequential(nn.Conv1d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv1d(32, 32, 3, padding=1))
        self.head = nn.Linear(32, 1)

    def forward(self, x):  # (batch, 3, 32)
        feats = torch.relu(self.conv(x))
        if self.fixed:
            return self.head(feats[:, :, -1])
        return self.head(feats[:, -1, :])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = TemporalConvNet(fixed)

    return model, train_step(model, nn.functional.l1_loss, torch.randn(7, 3, 32), torch.randn(7, 1))


if __name__ == "__main__":
    run(make)
