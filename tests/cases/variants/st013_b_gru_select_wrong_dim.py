"""ST013 variant: ``out.select(2, -1)`` on a batch_first GRU output where
``out.select(1, -1)`` was meant; 24 steps == 24 hidden units."""

import torch
from torch import nn
from variant_work import run, train_step


class Scorer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(8, 24, batch_first=True)
        self.score = nn.Sequential(nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 1))

    def forward(self, x):
        out, _ = self.gru(x)
        if self.fixed:
            return self.score(out.select(1, -1)).squeeze(-1)
        return self.score(out.select(2, -1)).squeeze(-1)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = Scorer(fixed)

    return model, train_step(model, nn.functional.binary_cross_entropy_with_logits, torch.randn(5, 24, 8), torch.rand(5))


if __name__ == "__main__":
    run(make)
