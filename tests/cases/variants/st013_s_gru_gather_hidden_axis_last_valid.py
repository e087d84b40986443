"""ST013 variant: the last valid step of padded sequences, picked with ``torch.gather`` from a
batch-first GRU's output (B, T, H), gathers along dim 2 (one hidden unit at every step) where
dim 1 (one step, all its units) was meant. The index is built for dim 2 ((B, T, 1)), and
T == H == 16, so the head's Linear(16, 2) takes the (B, T) result silently."""

import torch
from torch import nn
from variant_work import forward, run


class Tagger(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(3, 16, batch_first=True)
        self.fc = nn.Linear(16, 2)

    def forward(self, x, lengths):  # (batch, 16 steps, 3), steps after lengths are padding
        out, _ = self.gru(x)
        if self.fixed:
            idx = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))
            last = out.gather(1, idx).squeeze(1)
        else:
            idx = (lengths - 1).view(-1, 1, 1).expand(-1, out.size(1), 1)
            last = out.gather(2, idx).squeeze(2)  # culprit
        return self.fc(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Tagger(fixed)
    return model, forward(model, torch.randn(5, 16, 3), torch.tensor([16, 12, 9, 16, 5]))


if __name__ == "__main__":
    run(make)
