"""ST016 loss-resolution-mismatch: a 1/8-resolution density map against a full-size target.

A crowd-counting network pools three times (1/8 of the input resolution);
the ground-truth density map is loaded at full resolution. nn.MSELoss
cannot broadcast 16 against 128 and PyTorch raises.

    shapetrace run demos/bugs/st016_loss_resolution.py
"""

import torch
from torch import nn


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class DensityNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Sequential(block(3, 8), block(8, 16), block(16, 16))
        self.output_layer = nn.Conv2d(16, 1, 1)

    def forward(self, img):
        return self.output_layer(self.frontend(img))


def main():
    torch.manual_seed(0)
    model, criterion = DensityNet(), nn.MSELoss(reduction="sum")
    img, density = torch.rand(2, 3, 128, 128), torch.rand(2, 1, 128, 128)  # bug: density not pooled by 8
    loss = criterion(model(img), density)
    loss.backward()


if __name__ == "__main__":
    main()
