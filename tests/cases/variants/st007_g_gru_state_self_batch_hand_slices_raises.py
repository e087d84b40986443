"""ST007 variant (https://github.com/udacity/deep-learning-v2-pytorch/issues/153 class, no
DataLoader): a GRU whose initial state is made from ``self.batch_size`` in forward; the
training loop slices 50 samples into batches of 16 by hand, and the last one has 2:
"Expected hidden size (1, 2, 32), got [1, 16, 32]". Fix: zeros(1, x.size(0), hidden)."""

import torch
from torch import nn
from variant_work import run


class ChurnGRU(nn.Module):
    def __init__(self, batch_size, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.batch_size, self.hidden_dim = batch_size, 32
        self.gru = nn.GRU(7, self.hidden_dim, batch_first=True)
        self.fc = nn.Linear(self.hidden_dim, 1)

    def forward(self, x):
        if self.fixed:
            h0 = torch.zeros(1, x.size(0), self.hidden_dim)
        else:
            h0 = torch.zeros(1, self.batch_size, self.hidden_dim)
        out, _ = self.gru(x, h0)  # culprit
        return torch.sigmoid(self.fc(out[:, -1, :]))


def make(fixed=False):
    torch.manual_seed(0)
    x, y = torch.randn(50, 6, 7), torch.randint(0, 2, (50, 1)).float()
    model = ChurnGRU(16, fixed)

    def work():
        for i in range(0, len(x), 16):
            loss = nn.functional.binary_cross_entropy(model(x[i:i + 16]), y[i:i + 16])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
