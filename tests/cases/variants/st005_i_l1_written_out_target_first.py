"""ST005 variant: a mean absolute error written target first, ``torch.mean(torch.abs(
target - out))``, with the model's (B, 1) output and a (B,) target: (B, B) again."""

import torch
from torch import nn
from variant_work import run, step


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
        self.head = nn.Linear(8, 1)

    def forward(self, features):
        return self.head(self.body(features))


def make(fixed=False):
    torch.manual_seed(0)
    model = Scorer()

    def work():
        features, target = torch.randn(7, 6), torch.rand(7)
        if fixed:
            target = target.unsqueeze(1)
        out = model(features)
        step(torch.mean(torch.abs(target - out)))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
