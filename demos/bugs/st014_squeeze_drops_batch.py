"""ST014 squeeze-drops-batch: ``torch.squeeze`` on a last batch of one sample.

Features are pooled to (batch, 48, 1, 1) and squeezed to (batch, 48). The gallery
has 9 images, so the loader's last batch holds one: squeeze then removes the batch
axis too, (48,), and BatchNorm1d raises one module later ("expected 2D or 3D
input"). (https://github.com/layumi/Person_reID_baseline_pytorch/issues/77.)

    shapetrace run demos/bugs/st014_squeeze_drops_batch.py
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 48, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.neck = nn.Sequential(nn.Linear(48, 24), nn.BatchNorm1d(24))

    def forward(self, images):
        x = torch.squeeze(self.pool(self.backbone(images)))  # bug: x.squeeze((2, 3)) was meant
        return self.neck(x)


def main():
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(9, 3, 32, 16)), batch_size=4)
    model = Embedder().eval()
    with torch.no_grad():
        feats = [model(images) for (images,) in loader]
    print(torch.cat(feats).shape)


if __name__ == "__main__":
    main()
