"""Encoder-decoders with skip connections (ST022): a U-Net and an hourglass of strided
1-d convolutions, at sizes their downsampling keeps and at sizes it rounds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Example = tuple[nn.Module, tuple[torch.Tensor, ...]]


def _block(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())


class UNet(nn.Module):
    """Two poolings by 2 and two transposed convolutions back: inputs of a multiple of 4."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1, self.enc2, self.pool = _block(1, 8), _block(8, 16), nn.MaxPool2d(2)
        self.bottleneck = _block(16, 32)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, stride=2), _block(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, stride=2), _block(16, 8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


class ResizedUNet(UNet):
    """ST022's help applied: each upsampled map resized to its skip's size."""

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([F.interpolate(self.up2(b), size=e2.shape[2:]), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(self.up1(d2), size=e1.shape[2:]), e1], dim=1))
        return self.head(d1)


class CroppedUNet(UNet):
    """The original U-Net's way: the skip cropped to the upsampled map (odd sizes run)."""

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        up = self.up2(b)
        d2 = self.dec2(torch.cat([up, e2[..., : up.shape[2], : up.shape[3]]], dim=1))
        up = self.up1(d2)
        d1 = self.dec1(torch.cat([up, e1[..., : up.shape[2], : up.shape[3]]], dim=1))
        return self.head(d1)


class Hourglass(nn.Module):
    """A strided convolution (3, stride 2, padding 1: 25 -> 13) and a residual add back."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(4, 8, 3, padding=1)
        self.down = nn.Conv1d(8, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose1d(8, 8, 2, stride=2)

    def forward(self, x):
        skip = self.stem(x)
        y = F.relu(self.down(skip))
        return self.up(y) + skip


def unet_at_odd_size() -> Example:
    """Raises: 50 -> 25 -> 12, back up to 24 against the skip's 25."""
    return UNet(), (torch.randn(2, 1, 50, 50),)


def unet_at_multiple_of_four() -> Example:
    return UNet(), (torch.randn(2, 1, 64, 64),)
