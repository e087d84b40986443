"""ST013 variant: a seq-first LSTM output (time, batch, hidden) read with
``out[:, -1, :]`` as if it were batch_first: that is the last *sample* at every time
step, not the last step of every sample. Silent because time == batch == 6."""

import torch
from torch import nn
from variant_work import run, train_step


class Classifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(3, 10)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):  # (time, batch, 3)
        out, _ = self.lstm(x)
        if self.fixed:
            last = out[-1, :, :]
        else:
            last = out[:, -1, :]  # culprit
        return self.fc(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Classifier(fixed)

    return model, train_step(model, nn.CrossEntropyLoss(), torch.randn(6, 6, 3), torch.randint(0, 2, (6,)))


if __name__ == "__main__":
    run(make)
