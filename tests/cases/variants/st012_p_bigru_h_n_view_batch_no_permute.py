"""ST012 variant (known miss (c), a bidirectional h_n; the reshape asked about on
https://discuss.pytorch.org/t/the-hidden-states-of-two-reverse-sequence-on-bilstm-mismatch/119521):
a one-layer bidirectional GRU whose two final states are "joined" by
``h_n.view(batch, -1)``. h_n is (2, batch, hidden): the view keeps memory order, so row 0
is the forward states of samples 0 and 1, not sample 0's forward and backward states.
Fix: ``h_n.transpose(0, 1).reshape(batch, -1)`` (or ``torch.cat((h_n[0], h_n[1]), dim=1)``)."""

import torch
from torch import nn
from variant_work import run

FEATURES, HIDDEN = 6, 8


class SensorEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(FEATURES, HIDDEN, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * HIDDEN, 4)

    def forward(self, x):
        batch = x.size(0)
        _, h_n = self.gru(x)
        if self.fixed:
            return self.out(h_n.transpose(0, 1).reshape(batch, -1))
        return self.out(h_n.view(batch, -1))  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = SensorEncoder(fixed)
    x, y = torch.randn(20, 25, FEATURES), torch.randint(0, 4, (20,))

    def work():
        for i in range(0, 20, 5):
            loss = nn.functional.cross_entropy(model(x[i:i + 5]), y[i:i + 5])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
