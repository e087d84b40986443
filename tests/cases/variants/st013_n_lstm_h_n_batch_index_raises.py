"""ST013 variant: a two-layer batch_first LSTM whose final state is read as if it were
batch-first too, ``h_n[:, -1, :]``: that is the LAST SAMPLE of each layer, (layers, hidden),
not the last layer of each sample; the loss raises "Expected input batch_size (2) to match
target batch_size (10)". Fix: ``h_n[-1]`` (h_n is (layers, batch, hidden) whatever
batch_first says)."""

import torch
from torch import nn
from variant_work import run


class ActivityLSTM(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(9, 32, num_layers=2, batch_first=True)
        self.fc = nn.Linear(32, 6)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        if self.fixed:
            return self.fc(h_n[-1])
        return self.fc(h_n[:, -1, :])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = ActivityLSTM(fixed)
    x, y = torch.randn(10, 28, 9), torch.randint(0, 6, (10,))

    def work():
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
