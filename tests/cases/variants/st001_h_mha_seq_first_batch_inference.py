"""ST001 variant (https://github.com/om-ai-lab/OmDet/issues/19): an encoder block's
``nn.MultiheadAttention`` is built without ``batch_first`` while its inputs are
(batch, tokens, channels) image features: with one image per batch it is right by
chance, in batch inference each token attends over the other images. Inference only
(eval, no_grad, a DataLoader of images); the report's fix is ``batch_first=True``."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CHANNELS = 24


class EncoderBlock(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.proj = nn.Conv2d(3, CHANNELS, 4, stride=4)
        self.self_attn = nn.MultiheadAttention(CHANNELS, 4, batch_first=fixed)
        self.norm = nn.LayerNorm(CHANNELS)

    def forward(self, images):
        x = self.proj(images).flatten(2).transpose(1, 2)  # (batch, tokens, channels)
        attended, _ = self.self_attn(x, x, x)  # culprit
        return self.norm(x + attended)


def make(fixed=False):
    torch.manual_seed(0)
    images = TensorDataset(torch.randn(10, 3, 16, 20))
    loader = DataLoader(images, batch_size=4)
    model = EncoderBlock(fixed).eval()

    def work():
        with torch.no_grad():
            for (batch,) in loader:
                features = model(batch)
        print(tuple(features.shape))

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
