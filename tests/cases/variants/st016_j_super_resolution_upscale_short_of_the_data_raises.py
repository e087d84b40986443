"""ST016 variant: an ESPCN-style super-resolution network (convolutions, then
``nn.PixelShuffle(upscale)``) trained on pairs whose low-res half the Dataset made by
average-pooling the high-res crop by ``SCALE = 4``; the model is built with its default
``upscale=2``. Its (B, 3, 16, 16) outputs meet (B, 3, 32, 32) targets and ``nn.L1Loss``
raises "The size of tensor a (16) must match the size of tensor b (32)". Fix: build the
model for the data's scale, ``ESPCN(upscale=SCALE)``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from variant_work import epoch, run

SCALE, HR_SIZE = 4, 32


class PatchPairs(Dataset):
    def __init__(self, n=12):
        self.hr = torch.rand(n, 3, HR_SIZE, HR_SIZE)

    def __len__(self):
        return len(self.hr)

    def __getitem__(self, i):
        return F.avg_pool2d(self.hr[i], SCALE), self.hr[i]


class ESPCN(nn.Module):
    def __init__(self, upscale=2):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Tanh(), nn.Conv2d(16, 3 * upscale**2, 3, padding=1))
        self.shuffle = nn.PixelShuffle(upscale)

    def forward(self, lr):
        return self.shuffle(self.body(lr))


def make(fixed=False):
    torch.manual_seed(0)
    model = ESPCN(upscale=SCALE) if fixed else ESPCN()
    criterion = nn.L1Loss()

    def loss_of(lr, hr):
        return criterion(model(lr), hr)  # culprit

    return model, epoch(model, DataLoader(PatchPairs(), batch_size=4), loss_of)


if __name__ == "__main__":
    run(make)
