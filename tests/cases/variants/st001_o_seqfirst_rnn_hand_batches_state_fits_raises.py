"""ST001 variant (known miss (b), with a state sized to fit the mistake): a plain nn.RNN
left seq-first, fed (batch, steps, features) tensors sliced by hand; the initial state is
made as zeros(1, x.size(1), hidden), the steps, which is what the wrong reading asks for,
so the RNN runs; the head's ``out[-1]`` then has a row per step, and the loss raises
"The size of tensor a (10) must match the size of tensor b (8)".
Fix: nn.RNN(..., batch_first=True) and zeros(1, x.size(0), hidden)."""

import torch
from torch import nn
from variant_work import run

STEPS, FEATURES, HIDDEN = 10, 3, 20


class Tagger(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.RNN(FEATURES, HIDDEN, batch_first=fixed, nonlinearity="tanh")
        self.fc = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        h0 = torch.zeros(1, x.size(0) if self.fixed else x.size(1), HIDDEN)
        out, _ = self.rnn(x, h0)  # culprit
        last = out[:, -1] if self.fixed else out[-1]
        return self.fc(last).view(-1)


def make(fixed=False):
    torch.manual_seed(0)
    x = torch.randn(40, STEPS, FEATURES)
    y = x.sum(dim=(1, 2))
    model = Tagger(fixed)

    def work():
        for i in range(0, 40, 8):
            loss = nn.functional.mse_loss(model(x[i:i + 8]), y[i:i + 8])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
