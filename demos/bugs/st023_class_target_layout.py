"""ST023 class-target-layout: a Dataset that returns each label as a 1-element tensor.

``torch.tensor([label])`` has shape (1,), so the DataLoader stacks the labels of a
batch into (8, 1); nn.CrossEntropyLoss takes class indices (8,) and raises "0D or 1D
target tensor expected, multi-target not supported" at the loss, not at the Dataset.

    shapetrace run demos/bugs/st023_class_target_layout.py
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Reviews(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.features = torch.randn(20, 6, generator=g)
        self.labels = torch.randint(0, 3, (20,), generator=g).tolist()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.features[i], torch.tensor([self.labels[i]])  # bug: a (1,) label


def main():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    criterion = nn.CrossEntropyLoss()
    for x, y in DataLoader(Reviews(), batch_size=8):
        loss = criterion(model(x), y)
        loss.backward()


if __name__ == "__main__":
    main()
