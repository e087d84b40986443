"""ST003 variant: a ViT-style class token expanded with ``self.cls.expand(64, -1, -1)``, 64
the loader's batch size; the short last batch of 36 raises at the ``torch.cat`` after it.
Fix: ``self.cls.expand(x.shape[0], -1, -1)``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class TinyViT(nn.Module):
    def __init__(self, fixed=False, dim=16):
        super().__init__()
        self.fixed = fixed
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 2, 32, batch_first=True), 1)
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        if self.fixed:
            cls = self.cls.expand(x.shape[0], -1, -1)
        else:
            cls = self.cls.expand(64, -1, -1)  # culprit
        x = torch.cat([cls, x], dim=1)
        return self.head(self.encoder(x)[:, 0])


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(100, 3, 16, 16)), batch_size=64)
    model = TinyViT(fixed).eval()

    def work():
        with torch.no_grad():
            for (x,) in loader:
                print(model(x).shape)

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
