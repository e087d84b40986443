"""ST005 variant: st005_x with every size equal. A six-class segmentation net predicts logits
(B, C, H, W) = (6, 6, 6, 6) and ``nn.BCEWithLogitsLoss`` takes ``F.one_hot(labels, C)``, classes
last: (B, H, W, C), also (6, 6, 6, 6). Nothing raises: each class's scores are trained against
one column of pixels. Lineage tells it: the target's classes are on dim 3, the logits' channels
(the classes) on dim 1. The fix: ``target.permute(0, 3, 1, 2)``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

CLASSES = 6


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, CLASSES, 1))
    criterion = nn.BCEWithLogitsLoss()
    images, labels = torch.rand(12, 3, 6, 6), torch.randint(0, CLASSES, (12, 6, 6))
    loader = DataLoader(TensorDataset(images, labels), batch_size=6)

    def loss_of(image, label):
        logits = model(image)
        target = F.one_hot(label, CLASSES).float()
        if fixed:
            return criterion(logits, target.permute(0, 3, 1, 2))
        return criterion(logits, target)  # culprit

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
