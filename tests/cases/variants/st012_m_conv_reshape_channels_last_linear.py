"""ST012 variant: a per-pixel head on a conv feature map moves the channels last with
``x.reshape(B, H, W, C)`` where ``x.permute(0, 2, 3, 1)`` was meant (the sizes fit, so
nothing raises: each "pixel" of the head reads channels of several pixels). Reports:
"view instead of permute" on image features fed to a Linear over channels."""

import torch
from torch import nn
from variant_work import backward, run


class PixelHead(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.classify = nn.Linear(8, 4)

    def forward(self, img):  # (batch, 3, H, W)
        x = torch.relu(self.conv(img))
        B, C, H, W = x.shape
        if self.fixed:
            x = x.permute(0, 2, 3, 1)
        else:
            x = x.reshape(B, H, W, C)  # culprit
        return self.classify(x)  # (batch, H, W, 4)


def make(fixed=False):
    torch.manual_seed(0)
    model = PixelHead(fixed)
    return model, backward(model, torch.randn(2, 3, 5, 6))


if __name__ == "__main__":
    run(make)
