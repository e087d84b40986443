"""ST013 variant: each gesture's last valid step, picked with a one-hot mask of the
lengths and ``torch.einsum``, with the GRU output's subscripts written in the wrong
order. The output is (batch, time, hidden); ``"bht,bt->bh"`` labels it (batch,
hidden, time), so the einsum sums the hidden axis against the time mask and keeps
time: one hidden unit (length - 1) at every step. 20 padded frames == 20 hidden
units, so the classifier's Linear(20, 3) takes the (batch, time) result silently.
(After a public report of a one-hot "last step" einsum that trained to chance.)"""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import forward, run


class GestureNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(9, 20, num_layers=2, batch_first=True)
        self.cls = nn.Linear(20, 3)

    def forward(self, x, lengths):  # (batch, 20 frames, 9 sensors)
        out, _ = self.gru(x)
        mask = F.one_hot(lengths - 1, num_classes=out.size(1)).to(out.dtype)  # (batch, time)
        if self.fixed:
            last = torch.einsum("bth,bt->bh", out, mask)
        else:
            last = torch.einsum("bht,bt->bh", out, mask)  # culprit
        return self.cls(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = GestureNet(fixed)
    return model, forward(model, torch.randn(5, 20, 9), torch.tensor([20, 14, 9, 17, 6]))


if __name__ == "__main__":
    run(make)
