"""ST010 variant (data pipeline): a Dataset keeps images as numpy (H, W, C) arrays, as
cv2/PIL give them, and returns ``torch.from_numpy(img)``; batches are (B, H, W, C) and
Conv2d(3, ...) raises "expected input[8, 32, 32, 3] to have 3 channels, but got 32
channels instead". The cause is the Dataset's return, not the model. Fix:
``img.permute(2, 0, 1)`` in ``__getitem__`` (a transpose(1, 3) of the batch would swap H and W)."""
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Photos(Dataset):
    def __init__(self, n, fixed=False):
        rng = np.random.default_rng(0)
        self.images = rng.random((n, 32, 32, 3), dtype=np.float32)  # as cv2/PIL give them: H, W, C
        self.labels = rng.integers(0, 4, n)
        self.fixed = fixed

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = torch.from_numpy(self.images[i])
        if self.fixed:
            img = img.permute(2, 0, 1)
        return img, int(self.labels[i])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    loader = DataLoader(Photos(20, fixed), batch_size=8)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def work():
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
