"""ST016 variant: a segmentation Dataset's transform resizes each image to 32 × 32 but scales
its mask by ``scale_factor=0.25`` (64 → 16); a small UNet pools by 2 and upsamples back, so
its logits (B, 2, 32, 32) keep the input's size and meet (B, 16, 16) labels:
cross_entropy raises "size mismatch (got input: [4, 2, 32, 32] , target: [4, 16, 16])". The
model's layers are not why: the finding says the target was made at another size than
the input where the data is loaded. Fix: resize the mask to the image's size."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from variant_work import epoch, run

RAW, SIZE = 64, 32


class Roads(Dataset):
    def __init__(self, fixed, n=8):
        self.fixed = fixed
        self.images, self.masks = torch.rand(n, 3, RAW, RAW), (torch.rand(n, RAW, RAW) > 0.7).long()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = F.interpolate(self.images[i][None], size=(SIZE, SIZE), mode="bilinear")[0]
        mask = self.masks[i][None, None].float()
        if self.fixed:
            mask = F.interpolate(mask, size=(SIZE, SIZE), mode="nearest")
        else:
            mask = F.interpolate(mask, scale_factor=0.25, mode="nearest")
        return image, mask[0, 0].long()


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(self.up(self.down(x)))


def make(fixed=False):
    torch.manual_seed(0)
    model = TinyUNet()

    def loss_of(image, mask):
        return F.cross_entropy(model(image), mask)  # culprit

    return model, epoch(model, DataLoader(Roads(fixed), batch_size=4), loss_of)


if __name__ == "__main__":
    run(make)
