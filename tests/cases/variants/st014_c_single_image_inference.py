"""ST014 variant: one image at a time (inference on a batch of one, a single pass);
``squeeze()`` turns (1, 10, 1, 1) into (10,), and the model's output loses its batch
axis: the caller's ``logits.argmax(1)`` would fail, ``argmax(-1)`` silently works."""

import torch
from torch import nn
from variant_work import run


class TinyResNetHead(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.body = nn.Sequential(nn.Conv2d(3, 10, 3, padding=1), nn.BatchNorm2d(10), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(10, 4)

    def forward(self, x):
        x = self.pool(self.body(x))
        x = torch.flatten(x, 1) if self.fixed else x.squeeze()  # culprit
        return self.fc(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = TinyResNetHead(fixed).eval()

    def work():
        image = torch.randn(3, 20, 20)
        with torch.no_grad():
            logits = model(image.unsqueeze(0))
        print(logits.argmax(-1))

    return model, work


if __name__ == "__main__":
    run(make)
