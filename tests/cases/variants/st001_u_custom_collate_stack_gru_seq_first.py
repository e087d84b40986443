"""ST001 variant: an activity classifier's DataLoader has a ``collate_fn`` of its own that stacks
the (time, features) samples of a batch, ``torch.stack([window for window, _ in batch])``:
(batch, time, features). The GRU is left at the default ``batch_first=False``, so it recurs across
the samples of the batch. Batch == window == 10, so nothing raises. The fix:
``nn.GRU(CHANNELS, 20, batch_first=True)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader
from variant_work import epoch, run

WINDOW, CHANNELS, BATCH = 10, 5, 10


def collate(batch):
    windows = torch.stack([window for window, _ in batch])
    labels = torch.tensor([label for _, label in batch])
    return windows, labels


class ActivityNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.gru = nn.GRU(CHANNELS, 20, batch_first=fixed)
        self.head = nn.Linear(20, 3)

    def forward(self, windows):
        _, h_n = self.gru(windows)  # culprit
        return self.head(h_n[-1])


def make(fixed=False):
    torch.manual_seed(0)
    samples = [(torch.randn(WINDOW, CHANNELS), int(torch.randint(0, 3, ()))) for _ in range(40)]
    loader = DataLoader(samples, batch_size=BATCH, collate_fn=collate)
    model = ActivityNet(fixed)
    return model, epoch(model, loader, lambda windows, labels: nn.functional.cross_entropy(model(windows), labels))

if __name__ == "__main__":
    run(make)
