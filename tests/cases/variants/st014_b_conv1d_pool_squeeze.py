"""ST014 variant: a 1-D conv net pooled to (batch, C, 1) and ``torch.squeeze``-d; the
last batch of 25 signals in batches of 8 holds one (evaluation: BatchNorm1d then
raises "expected 2D or 3D input (got 1D input)")."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run


class SignalNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Sequential(nn.Conv1d(2, 12, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
        self.classifier = nn.Sequential(nn.Linear(12, 12), nn.BatchNorm1d(12), nn.Linear(12, 3))

    def forward(self, x):
        h = self.conv(x)
        if self.fixed:
            h = torch.squeeze(h, -1)
        else:
            h = torch.squeeze(h)  # culprit
        return self.classifier(h)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(25, 2, 40), torch.randint(0, 3, (25,))), batch_size=8)
    model = SignalNet(fixed).eval()

    def work():
        correct = 0
        with torch.no_grad():
            for x, y in loader:
                correct += int((model(x).argmax(-1) == y).sum())
        print(f"accuracy {correct / 25:.2f}")

    return model, work


if __name__ == "__main__":
    run(make)
