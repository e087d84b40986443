"""ST014 variant: ``x.squeeze()`` after global pooling; the loader's last batch holds one
image and nothing fails afterwards (a Linear accepts the 1-d features)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run


class Net(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.features(x)
        if self.fixed:
            x = x.flatten(1)
        else:
            x = x.squeeze()  # culprit
        return self.fc(x)


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(7, 1, 12, 12)), batch_size=3)  # 3, 3, 1
    model = Net(fixed).eval()

    def work():
        with torch.no_grad():
            outs = [model(x) for (x,) in loader]
        print([tuple(o.shape) for o in outs])

    return model, work


if __name__ == "__main__":
    run(make)
