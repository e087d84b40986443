"""ST007 variant: a seq-first LSTM whose state is rebuilt every batch, but for the
constant batch size; a hand-written slicing loop over 70 samples gives 32, 32, 6."""

import torch
from torch import nn
from variant_work import run

BATCH, HIDDEN = 32, 20


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, HIDDEN)
        self.fc = nn.Linear(HIDDEN, 2)

    def forward(self, x, state):  # x: (time, batch, 5)
        out, state = self.lstm(x, state)  # culprit
        return self.fc(out[-1]), state


def make(fixed=False):
    torch.manual_seed(0)
    xs = torch.randn(15, 70, 5)
    ys = torch.randint(0, 2, (70,))
    model = Model()

    def work():
        for start in range(0, 70, BATCH):
            x, y = xs[:, start:start + BATCH], ys[start:start + BATCH]
            size = x.size(1) if fixed else BATCH
            state = (torch.zeros(1, size, HIDDEN), torch.zeros(1, size, HIDDEN))
            logits, _ = model(x, state)
            nn.functional.cross_entropy(logits, y).backward()
        print("done")

    return model, work


if __name__ == "__main__":
    run(make)
