"""ST013 variant: the last valid step of padded sequences with an index built right, for
the time axis, ``(lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden)`` of shape (B, 1, H),
given to ``out.gather(2, idx)``: gather walks the index's shape, so it reads step 0 of
every sample only, and there the hidden unit ``lengths - 1`` in every place. The result is
(B, 1, H), the shape the right ``out.gather(1, idx)`` gives: nothing raises, whatever the
sizes (24 steps, 32 hidden units)."""

import torch
from torch import nn
from variant_work import forward, run


class LastValidStep(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(6, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x, lengths):  # (batch, 24 steps, 6), padded after each length
        out, _ = self.lstm(x)
        idx = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))
        if self.fixed:
            last = out.gather(1, idx).squeeze(1)
        else:
            last = out.gather(2, idx).squeeze(1)  # culprit
        return self.head(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = LastValidStep(fixed)
    return model, forward(model, torch.randn(5, 24, 6), torch.tensor([24, 10, 17, 3, 21]))


if __name__ == "__main__":
    run(make)
