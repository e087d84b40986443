"""ST013 variant: a trip-time regressor over right-padded sequences gathers "the last valid
step" of a batch-first GRU's output (B, 20, 20) along dim 2 (hidden) with the index written
inline and expanded over dim 1: hidden unit len - 1 at every step, (B, T), not the state at
step len - 1. Max length == hidden == 20, so Linear(20, 1) takes it silently. The fix:
``out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))).squeeze(1)``."""

import torch
from torch import nn
from variant_work import run

FEAT, MAX_LEN, HID = 7, 20, 20


class TripTimeRegressor(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(FEAT, HID, batch_first=True)
        self.reg = nn.Linear(HID, 1)

    def forward(self, x, lengths):  # x: (batch, MAX_LEN, FEAT), right-padded
        out, _ = self.gru(x)
        if self.fixed:
            last = out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))).squeeze(1)
        else:
            last = out.gather(2, (lengths - 1).view(-1, 1, 1).expand(-1, out.size(1), 1)).squeeze(2)  # culprit
        return self.reg(last).squeeze(1)


def make(fixed=False):
    torch.manual_seed(0)
    model = TripTimeRegressor(fixed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        for _ in range(3):
            lengths = torch.randint(5, MAX_LEN + 1, (6,))
            x = torch.randn(6, MAX_LEN, FEAT)
            x = x * (torch.arange(MAX_LEN)[None, :, None] < lengths[:, None, None])
            y = torch.randn(6)
            loss = nn.functional.mse_loss(model(x, lengths), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    run(make)
