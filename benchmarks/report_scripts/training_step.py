"""A Lightning-free LightningModule-style autoencoder: training_step calls self.encoder and self.decoder."""

import torch
import torch.nn.functional as F
from torch import nn


class LitAutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def forward(self, x):
        return self.encoder(x)

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        return F.mse_loss(x_hat, x)


def main():
    torch.manual_seed(0)
    model = LitAutoEncoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.rand(20, 1, 28, 28)
    for batch_idx in range(3):
        batch = (data[batch_idx * 8 : batch_idx * 8 + 8], None)
        loss = model.training_step(batch, batch_idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"batch {batch_idx} loss {loss.item():.4f}")
    with torch.no_grad():
        print("embedding", model(data[:4].view(4, -1)).shape)


if __name__ == "__main__":
    main()
