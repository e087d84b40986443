"""A data-pipeline shape bug: one grayscale image among RGB ones breaks the batch.

    python demos/data_pipeline_bug.py              # RuntimeError: stack expects each tensor to be equal size
    shapetrace run demos/data_pipeline_bug.py      # ... and names dataset index 37, its shape and the fix
    shapetrace run demos/data_pipeline_bug.py -- --fixed

PyTorch's error names a position in the batch ("at entry 5"), never the dataset
index; with num_workers > 0 it reads "Trying to resize storage that is not
resizable" and names no shape at all. The image folders people train on often
hold a few grayscale (or RGBA) files among the RGB ones.
"""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

FIXED = "--fixed" in sys.argv


class Photos(Dataset):
    """160 images of (3, 32, 32); the file at index 37 was saved in grayscale."""

    def __len__(self):
        return 160

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        channels = 1 if index == 37 else 3
        image = torch.rand(channels, 32, 32, generator=generator)
        if FIXED:
            image = image.expand(3, -1, -1)  # grayscale -> RGB, as PIL's .convert("RGB") does
        return {"image": image, "label": index % 10}


model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(8, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for batch in DataLoader(Photos(), batch_size=16):
    loss = nn.functional.cross_entropy(model(batch["image"]), batch["label"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"trained on {len(Photos())} images, last loss {loss.item():.3f}")
