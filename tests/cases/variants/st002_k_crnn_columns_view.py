"""ST002 variant (CRNN text recognition): the conv stack ends at height 1, (B, C, 1, W),
and the columns are handed to a batch-first BiLSTM as ``conv.view(b, w, c)`` where
``conv.squeeze(2).permute(0, 2, 1)`` was meant: each "column" reads channels across
columns. Real CRNN code writes the squeeze and the permute."""

import torch
from torch import nn
from variant_work import backward, run


class CRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d((4, 1)),
                                 nn.Conv2d(16, 24, 3, padding=1), nn.ReLU(), nn.MaxPool2d((4, 2)))
        self.rnn = nn.LSTM(24, 16, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(32, 11)

    def forward(self, x):  # (B, 1, 16, 20)
        conv = self.cnn(x)  # (B, 24, 1, 10)
        b, c, h, w = conv.size()
        if self.fixed:
            seq = conv.squeeze(2).permute(0, 2, 1)
        else:
            seq = conv.view(b, w, c)  # culprit
        out, _ = self.rnn(seq)
        return self.fc(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = CRNN(fixed)
    return model, backward(model, torch.randn(2, 1, 16, 20))


if __name__ == "__main__":
    run(make)
