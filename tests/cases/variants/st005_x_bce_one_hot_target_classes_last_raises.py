"""ST005 variant: a three-class segmentation net predicts logits (B, C, H, W) and is trained with
``nn.BCEWithLogitsLoss`` on one-hot targets. The loop makes them with ``F.one_hot(labels, C)``,
which puts the classes last: (B, H, W, C). PyTorch raises ("Target size ... must be the same as
input size"), and the note names the layout: the prediction's dim 1 moved to dim 3. The fix:
``F.one_hot(labels, C).permute(0, 3, 1, 2)``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

CLASSES = 3


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, CLASSES, 1))
    criterion = nn.BCEWithLogitsLoss()
    images, labels = torch.rand(6, 3, 10, 12), torch.randint(0, CLASSES, (6, 10, 12))
    loader = DataLoader(TensorDataset(images, labels), batch_size=3)

    def loss_of(image, label):
        logits = model(image)
        target = F.one_hot(label, CLASSES).float()
        if fixed:
            return criterion(logits, target.permute(0, 3, 1, 2))
        return criterion(logits, target)  # culprit

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
