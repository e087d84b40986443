"""ST012 variant: a CNN feature map (B, C, H, W) made into tokens for attention with
``f.reshape(B, -1, C)`` where ``f.flatten(2).transpose(1, 2)`` was meant: the token
count comes out right (H * W), but each token holds pieces of several channels' maps."""

import torch
from torch import nn
from variant_work import backward, run


class ConvAttention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.backbone = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.ReLU())
        self.attn = nn.MultiheadAttention(12, 3, batch_first=True)
        self.head = nn.Linear(12, 5)

    def forward(self, img):
        f = self.backbone(img)  # (B, 12, 4, 4)
        B, C = f.shape[:2]
        if self.fixed:
            tokens = f.flatten(2).transpose(1, 2)
        else:
            tokens = f.reshape(B, -1, C)  # culprit
        out, _ = self.attn(tokens, tokens, tokens)
        return self.head(out.mean(dim=1))


def make(fixed=False):
    torch.manual_seed(0)
    model = ConvAttention(fixed)
    return model, backward(model, torch.randn(2, 3, 8, 8))


if __name__ == "__main__":
    run(make)
