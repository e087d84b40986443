"""ST003 variant (udacity deep-learning-v2-pytorch pull request #60,
https://github.com/udacity/deep-learning-v2-pytorch/pull/60): a training loop
flattens images with ``images.view(batch_size, -1)``, the loader's batch size
written in. 100 images in batches of 32 end with a batch of 4, and the view still
fits (4 * 784 = 32 * 98), so the classifier gets (32, 98) and fails far from the
cause. Diagnosis: a batch size baked into a view. Fix: ``images.view(images.shape[0], -1)``."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make(fixed=False):
    torch.manual_seed(0)
    batch_size = 32
    loader = DataLoader(TensorDataset(torch.randn(100, 1, 28, 28), torch.randint(0, 10, (100,))),
                        batch_size=batch_size)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

    def work():
        for images, labels in loader:
            if fixed:
                images = images.view(images.shape[0], -1)
            else:
                images = images.view(batch_size, -1)  # culprit
            loss = nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
