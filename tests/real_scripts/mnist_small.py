"""A small MNIST-style training script (the shape of pytorch/examples' mnist,
re-written with synthetic digits): a per-image ``Normalize`` that is an
``nn.Module`` (as torchvision's is) runs inside the Dataset, then a CNN trains."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Normalize(nn.Module):
    """torchvision.transforms.Normalize's job: an nn.Module without parameters."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, image):
        return (image - self.mean) / self.std


class Digits(Dataset):
    def __init__(self, count, transform):
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(count, 1, 12, 12, generator=generator)
        self.labels = torch.randint(0, 10, (count,), generator=generator)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(self.images[index]), self.labels[index]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout(x), 1)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


TRAIN_IMAGES, TEST_IMAGES, EPOCHS = 24, 12, 2


def test(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
    return correct


def main():
    torch.manual_seed(1)
    normalize = Normalize(0.1307, 0.3081)
    train_loader = DataLoader(Digits(TRAIN_IMAGES, normalize), batch_size=8)
    test_loader = DataLoader(Digits(TEST_IMAGES, normalize), batch_size=TEST_IMAGES)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    for epoch in range(EPOCHS):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(images), labels)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    print(f"test: {test(model, test_loader)}/{TEST_IMAGES} correct")


if __name__ == "__main__":
    main()
