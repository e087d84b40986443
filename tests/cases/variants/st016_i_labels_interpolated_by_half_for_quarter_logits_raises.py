"""ST016 variant: a segmentation net with two stride-2 convolutions outputs logits at 1/4 of its
input, (B, C, 8, 8) for 32 x 32 images. The loop brings the DataLoader's (B, 32, 32) label maps
down to the logits with ``F.interpolate(..., scale_factor=0.5, mode="nearest")``: (B, 16, 16).
``nn.CrossEntropyLoss`` raises ("input and target batch or spatial sizes don't match"); the labels'
scale factor is the mistake, not the model. The fix: ``scale_factor=0.25``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 4, 1),
    )
    criterion = nn.CrossEntropyLoss()
    images, labels = torch.rand(6, 3, 32, 32), torch.randint(0, 4, (6, 32, 32))
    loader = DataLoader(TensorDataset(images, labels), batch_size=3)

    def loss_of(image, label):
        scale = 0.25 if fixed else 0.5
        small = F.interpolate(label[:, None].float(), scale_factor=scale, mode="nearest")[:, 0].long()  # culprit
        return criterion(model(image), small)

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
