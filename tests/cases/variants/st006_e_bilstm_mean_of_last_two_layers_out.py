"""ST006 variant: a 2-layer bidirectional LSTM in a module list-style encoder, reading
``out[:, out.size(1) - 1, :]`` (the last step by position) as the sentence vector."""

import torch
from torch import nn
from variant_work import forward, run


class Siamese(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(6, 10, num_layers=2, bidirectional=True, batch_first=True)

    def encode(self, x):
        out, (h_n, _) = self.lstm(x)
        if self.fixed:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        return out[:, out.size(1) - 1, :]  # culprit

    def forward(self, a, b):
        return torch.cosine_similarity(self.encode(a), self.encode(b))


def make(fixed=False):
    torch.manual_seed(0)
    model = Siamese(fixed)

    return model, forward(model, torch.randn(3, 7, 6), torch.randn(3, 5, 6))


if __name__ == "__main__":
    run(make)
