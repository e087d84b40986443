"""ST013 variant (a temporal convolution network read as if channels-last): a 1x1
``Conv1d`` classifier gives per-position logits (batch, classes, length) and the
model returns ``logits[:, -1]`` for the last position, which on this layout is the
last class at every position, (batch, length). ``F.cross_entropy`` then reads the
16 positions as 16 classes; the labels are below 16, so it trains. Diagnosis: an
index on the channel (class) axis where the position axis was meant. Fix:
``logits[:, :, -1]``."""

import torch
from torch import nn
from variant_work import run, train_step


class TCN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Conv1d(2, 8, 3, padding=2, dilation=2), nn.ReLU())
        self.classifier = nn.Conv1d(8, 4, 1)

    def forward(self, signal):  # (batch, 2, 16 positions)
        logits = self.classifier(self.body(signal))
        if self.fixed:
            return logits[:, :, -1]
        return logits[:, -1]  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = TCN(fixed)

    x, y = torch.randn(5, 2, 16), torch.randint(0, 4, (5,))
    return model, train_step(model, nn.functional.cross_entropy, x, y)


if __name__ == "__main__":
    run(make)
