"""ST003 variant, silent: an offset parameter built as ``torch.zeros(batch_size, 1, D)``
where ``(1, 1, D)`` was meant; training at batch 16 fits, and inference on one sample
broadcasts (1, T, D) + (16, 1, D) to 16 copies: the output is (16, 1), with no error.
Fix: ``torch.zeros(1, 1, D)``."""
import sys

import torch
from torch import nn

T, D = 6, 8


class Scorer(nn.Module):
    def __init__(self, batch_size, fixed=False):
        super().__init__()
        self.proj = nn.Linear(4, D)
        self.offset = nn.Parameter(torch.zeros(1, 1, D) if fixed else torch.zeros(batch_size, 1, D))  # culprit
        self.out = nn.Linear(D, 1)

    def forward(self, x):
        return self.out(torch.relu(self.proj(x) + self.offset)).mean(1)


def make(fixed=False):
    torch.manual_seed(0)
    model = Scorer(16, fixed)
    train_x, train_y = torch.randn(16, T, 4), torch.randn(16, 1)
    one = torch.randn(1, T, 4)

    def work():
        loss = nn.functional.mse_loss(model(train_x), train_y)
        loss.backward()
        with torch.no_grad():
            print(model(one).shape)  # (16, 1), not (1, 1)

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
