"""ST006 variant: a 2-layer bidirectional LSTM forecaster picks its "last step" with
``out.index_select(1, torch.tensor([T - 1]))``: the forward half there has read the whole
window, the backward half only that one step. The fix reads both directions' final states,
``torch.cat([h_n[-2], h_n[-1]], dim=1)``."""

import torch
from torch import nn
from variant_work import forward, run


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(5, 32, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(64, 6)

    def forward(self, x):  # (batch, 48 steps, 5 features)
        out, (h_n, _) = self.lstm(x)
        if self.fixed:
            summary = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            last = torch.tensor([x.size(1) - 1])
            summary = out.index_select(1, last).squeeze(1)  # culprit
        return self.head(summary)


def make(fixed=False):
    torch.manual_seed(0)
    model = Forecaster(fixed)
    return model, forward(model, torch.randn(8, 48, 5))


if __name__ == "__main__":
    run(make)
