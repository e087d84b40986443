"""ST005 variant: a saliency net predicts (B, 1, H, W) maps, trained with ``nn.L1Loss`` against the
masks its DataLoader yields as (B, H, W). The loop adds the channel axis in front,
``mask.unsqueeze(0)``: (1, B, H, W), so the loss broadcasts to (B, B, H, W) and compares each
prediction with every sample's mask (PyTorch only warns that the sizes differ). The fix:
``mask.unsqueeze(1)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


class Saliency(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 1, 1), nn.Sigmoid())

    def forward(self, x):
        return self.body(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = Saliency()
    criterion = nn.L1Loss()
    images, masks = torch.rand(9, 3, 12, 12), (torch.rand(9, 12, 12) > 0.5).float()
    loader = DataLoader(TensorDataset(images, masks), batch_size=3)

    def loss_of(image, mask):
        if fixed:
            mask = mask.unsqueeze(1)
        else:
            mask = mask.unsqueeze(0)  # culprit
        return criterion(model(image), mask)

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
