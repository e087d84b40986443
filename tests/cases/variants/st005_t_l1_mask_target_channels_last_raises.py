"""ST005 variant: a matting net predicts an alpha map (B, 1, H, W) and ``F.l1_loss`` compares it
with the alpha maps as the dataset stores them, channels-last (B, H, W, 1). H != W, so PyTorch
raises ("The size of tensor a (48) must match the size of tensor b (64)"); with H == W it
would have broadcast. The fix: ``alpha.permute(0, 3, 1, 2)``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class Matting(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, image):
        return torch.sigmoid(self.body(image))


def make(fixed=False):
    torch.manual_seed(0)
    model = Matting()
    image = torch.rand(2, 3, 48, 64)
    alpha = torch.rand(2, 48, 64, 1)

    def work():
        pred = model(image)
        if fixed:
            loss = F.l1_loss(pred, alpha.permute(0, 3, 1, 2))
        else:
            loss = F.l1_loss(pred, alpha)  # culprit
        step(loss)

    return model, work


if __name__ == "__main__":
    run(make)
