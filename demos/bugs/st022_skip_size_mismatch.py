"""ST022 skip-size-mismatch: a U-Net given images whose size its poolings round.

Two 2x2 poolings and two transposed convolutions back up: a 50 x 50 image is
pooled to 25, then to 12 (25 is odd), and comes back up as 24 while the skip
connection saved at 25, so torch.cat raises "Sizes of tensors must match except
in dimension 1". The model keeps its sizes only for inputs that are multiples
of 4. ``--fixed`` resizes each upsampled map to its skip's size, as the
finding's help says.

    shapetrace run demos/bugs/st022_skip_size_mismatch.py
"""

import sys

import torch
import torch.nn.functional as F
from torch import nn


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.enc1, self.enc2, self.pool = block(1, 8), block(8, 16), nn.MaxPool2d(2)
        self.bottleneck = block(16, 32)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, stride=2), block(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, stride=2), block(16, 8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        up = F.interpolate(self.up2(b), size=e2.shape[2:]) if self.fixed else self.up2(b)
        d2 = self.dec2(torch.cat([up, e2], dim=1))
        up = F.interpolate(self.up1(d2), size=e1.shape[2:]) if self.fixed else self.up1(d2)
        d1 = self.dec1(torch.cat([up, e1], dim=1))
        return self.head(d1)


def main():
    torch.manual_seed(0)
    model = UNet(fixed="--fixed" in sys.argv)
    image, mask = torch.rand(2, 1, 50, 50), torch.rand(2, 1, 50, 50)
    loss = nn.functional.binary_cross_entropy_with_logits(model(image), mask)
    loss.backward()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
