"""A small DCGAN-style training script (the shape of pytorch/examples' dcgan,
re-written with synthetic images): a generator and a discriminator trained
together, images normalized by an ``nn.Module`` transform in the Dataset."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

LATENT, FEATURES, CHANNELS = 8, 4, 3


class Normalize(nn.Module):
    def forward(self, image):
        return (image - 0.5) / 0.5


class Images(Dataset):
    def __init__(self, count, transform):
        self.images = torch.rand(count, CHANNELS, 16, 16, generator=torch.Generator().manual_seed(0))
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(self.images[index])


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(LATENT, FEATURES * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(FEATURES * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(FEATURES * 4, FEATURES * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(FEATURES * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(FEATURES * 2, CHANNELS, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, noise):
        return self.main(noise)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(CHANNELS, FEATURES, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(FEATURES, FEATURES * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(FEATURES * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(FEATURES * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, image):
        return self.main(image).view(-1, 1).squeeze(1)


def main():
    torch.manual_seed(1)
    loader = DataLoader(Images(12, Normalize()), batch_size=6)
    generator, discriminator = Generator(), Discriminator()
    criterion = nn.BCELoss()
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for real in loader:
        discriminator.zero_grad()
        label = torch.full((real.size(0),), 1.0)
        loss_real = criterion(discriminator(real), label)
        loss_real.backward()
        fake = generator(torch.randn(real.size(0), LATENT, 1, 1))
        label.fill_(0.0)
        loss_fake = criterion(discriminator(fake.detach()), label)
        loss_fake.backward()
        optimizer_d.step()
        generator.zero_grad()
        label.fill_(1.0)
        loss_g = criterion(discriminator(fake), label)
        loss_g.backward()
        optimizer_g.step()
        print(f"loss_d {(loss_real + loss_fake).item():.4f} loss_g {loss_g.item():.4f}")


if __name__ == "__main__":
    main()
