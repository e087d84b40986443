"""ST012 variant: a conv feature map (B, C, H, W) turned into tokens with
``view(B, H * W, C)`` where ``flatten(2).transpose(1, 2)`` was meant (ViT-style stem)."""

import torch
from torch import nn
from variant_work import forward, run


class PatchEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.stem = nn.Conv2d(3, 16, kernel_size=4, stride=4)
        self.encoder = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)

    def forward(self, img):
        f = self.stem(img)  # (B, 16, 4, 4)
        B, C, H, W = f.shape
        if self.fixed:
            tokens = f.flatten(2).transpose(1, 2)
        else:
            tokens = f.view(B, H * W, C)  # culprit
        return self.encoder(tokens).mean(1)


def make(fixed=False):
    torch.manual_seed(0)
    model = PatchEncoder(fixed)

    return model, forward(model, torch.randn(3, 3, 16, 16))


if __name__ == "__main__":
    run(make)
