"""ST002 variant: a ViT's patch embedding written by hand turns the stride-4 Conv2d's
(B, 64, 8, 8) map into tokens with ``x.reshape(B, -1, self.embed_dim)``, where
``x.flatten(2).transpose(1, 2)`` was meant. With 64 patches and 64 channels the result has
the expected (B, 64, 64) shape, but each "token" is one channel over all patches, and the
encoder reads the patch positions as features. Nothing raises."""

import torch
from torch import nn
from variant_work import forward, run


class PatchEmbed(nn.Module):
    def __init__(self, fixed=False, embed_dim=64):
        super().__init__()
        self.fixed, self.embed_dim = fixed, embed_dim
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=4, stride=4)

    def forward(self, x):
        B = x.shape[0]
        x = self.proj(x)  # (B, E, 8, 8)
        if self.fixed:
            x = x.flatten(2).transpose(1, 2)
        else:
            x = x.reshape(B, -1, self.embed_dim)  # culprit
        return x


class TinyViT(nn.Module):
    def __init__(self, fixed=False, embed_dim=64):
        super().__init__()
        self.patch_embed = PatchEmbed(fixed, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        layer = nn.TransformerEncoderLayer(embed_dim, 4, 128, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(embed_dim, 10)

    def forward(self, images):
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.blocks(x)[:, 0])


def make(fixed=False):
    torch.manual_seed(0)
    model = TinyViT(fixed)
    return model, forward(model, torch.randn(4, 3, 32, 32))


if __name__ == "__main__":
    run(make)
