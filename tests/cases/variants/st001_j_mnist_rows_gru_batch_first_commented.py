"""ST001 variant (https://github.com/pytorch/pytorch/issues/1538): an MNIST classifier
reads each image as 28 rows of 28 pixels, with ``batch_first=True`` commented out where
the recurrent layer is built (a 2-layer GRU here, an LSTM in the report). The loader's
images are viewed as (batch, rows, pixels), so the GRU steps through the 20 images of
a batch and treats the 28 rows as its batch; ``out[:, -1, :]`` then takes row 27 of
every image, carried across the images. Nothing raises: the accuracy differs from the
batch_first run, which is what the report noticed. Fix: ``batch_first=True``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run


class RowRNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.gru = nn.GRU(28, 16, num_layers=2, batch_first=fixed)
        #                  batch_first=True)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.gru(x)  # culprit
        return self.classifier(out[:, -1, :])


def make(fixed=False):
    torch.manual_seed(0)
    model = RowRNN(fixed)
    loader = DataLoader(TensorDataset(torch.randn(60, 1, 28, 28), torch.randint(0, 10, (60,))),
                        batch_size=20, shuffle=True)
    criterion = nn.CrossEntropyLoss()

    def work():
        for images, labels in loader:
            loss = criterion(model(images.view(-1, 28, 28)), labels)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
