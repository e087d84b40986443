"""ST013 variant (the reverse reading of the wrong-axis index: the kept axis feeds a
loss as its classes). A next-event classifier computes per-step logits (batch,
steps, classes) and takes ``logits[..., -1]`` for the last step: that is the last
class at every step, (batch, steps), and ``cross_entropy`` reads the 12 steps as 12
classes. Targets are below 12, so it trains, on nonsense. Diagnosis: an index on
the class axis where the step axis was meant. Fix: ``logits[:, -1]``."""

import torch
from torch import nn
from variant_work import run, train_step


class NextEvent(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(3, 10, batch_first=True)
        self.classify = nn.Linear(10, 5)

    def forward(self, events):  # (batch, 12 steps, 3)
        out, _ = self.gru(events)
        logits = self.classify(out)  # (batch, steps, classes)
        if self.fixed:
            return logits[:, -1]
        return logits[..., -1]  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = NextEvent(fixed)
    criterion = nn.CrossEntropyLoss()

    x, y = torch.randn(6, 12, 3), torch.randint(0, 5, (6,))
    return model, train_step(model, criterion, x, y)


if __name__ == "__main__":
    run(make)
