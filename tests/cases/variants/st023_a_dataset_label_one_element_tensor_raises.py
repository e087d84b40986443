"""ST023 variant (data pipeline): a Dataset returns ``torch.tensor([label])``, a (1,)
label, so the batches of labels are (B, 1) and CrossEntropyLoss raises "0D or 1D target
tensor expected, multi-target not supported" at the loss. Fix: ``torch.tensor(label)``
(a 0-d class index) in ``__getitem__``."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Rows(Dataset):
    def __init__(self, fixed=False):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(40, 6, generator=g)
        self.y = torch.randint(0, 3, (40,), generator=g).tolist()
        self.fixed = fixed

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        label = self.y[i] if self.fixed else [self.y[i]]
        return self.x[i], torch.tensor(label)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Rows(fixed), batch_size=10, shuffle=True)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    criterion = nn.CrossEntropyLoss()

    def work():
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
