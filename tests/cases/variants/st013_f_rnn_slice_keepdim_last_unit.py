"""ST013 variant: a multi-layer nn.RNN read with ``out[:, :, -1:]`` (a length-1 slice of
the last hidden unit, kept as a dim) and squeezed, where the last step was meant;
12 steps == 12 hidden units."""

import torch
from torch import nn
from variant_work import run, train_step


class Detector(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.RNN(5, 12, num_layers=3, batch_first=True, nonlinearity="relu")
        self.cls = nn.Linear(12, 2)

    def forward(self, x):  # (batch, 12 steps, 5)
        out, _ = self.rnn(x)
        if self.fixed:
            last = out[:, -1:, :]
        else:
            last = out[:, :, -1:]  # culprit
        return self.cls(last.squeeze(-1) if not self.fixed else last.squeeze(1))


def make(fixed=False):
    torch.manual_seed(0)
    model = Detector(fixed)

    return model, train_step(model, nn.functional.cross_entropy, torch.randn(9, 12, 5), torch.randint(0, 2, (9,)))


if __name__ == "__main__":
    run(make)
