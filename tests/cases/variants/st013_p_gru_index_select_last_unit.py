"""ST013 variant: ``torch.index_select(out, 2, last)`` with ``last = [T - 1]`` keeps the last
hidden unit of each step of a batch-first GRU's output (B, T, H), where the last step
(dim 1) was meant; T == H, so the head's Linear(H, C) takes the (B, T) result silently."""

import torch
from torch import nn
from variant_work import forward, run


class Model(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(2, 24, batch_first=True)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):  # (batch, 24 steps, 2)
        out, _ = self.gru(x)
        last = torch.tensor([out.size(1) - 1])
        if self.fixed:
            feat = torch.index_select(out, 1, last).squeeze(1)
        else:
            feat = torch.index_select(out, 2, last).squeeze(2)  # culprit
        return self.fc(feat)


def make(fixed=False):
    torch.manual_seed(0)
    model = Model(fixed)

    return model, forward(model, torch.randn(5, 24, 2))


if __name__ == "__main__":
    run(make)
