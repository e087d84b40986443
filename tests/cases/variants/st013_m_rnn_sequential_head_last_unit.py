"""ST013 variant (https://github.com/scoutbee/pytorch-nlp-notebooks/issues/24 class): a
plain nn.RNN, batch_first, whose nn.Sequential head reads ``out[:, :, -1]``, the last
hidden unit at every step, (batch, steps); it runs because steps == hidden == 16.
Fix: ``out[:, -1, :]``."""

import torch
from torch import nn
from variant_work import run

STEPS, HIDDEN = 16, 16


class ECGClassifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.RNN(2, HIDDEN, num_layers=2, batch_first=True)
        self.head = nn.Sequential(nn.Linear(HIDDEN, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        out, _ = self.rnn(x)
        if self.fixed:
            return self.head(out[:, -1, :])
        return self.head(out[:, :, -1])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = ECGClassifier(fixed)
    x, y = torch.randn(24, STEPS, 2), torch.randint(0, 3, (24,))

    def work():
        for i in range(0, 24, 6):
            loss = nn.functional.cross_entropy(model(x[i:i + 6]), y[i:i + 6])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
