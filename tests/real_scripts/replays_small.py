"""A training script whose model PyTorch runs again on its own: blocks under
activation checkpointing (recomputed in the backward pass), then the trained
model exported with ``torch.jit.trace`` and ``torch.export`` after a
``torch.compile`` run. ``--reentrant`` picks the older checkpoint."""

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x))) + x


class Net(nn.Module):
    def __init__(self, reentrant):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = nn.ModuleList([Block(4) for _ in range(2)])
        self.head = nn.Linear(4, 3)
        self.reentrant = reentrant

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=self.reentrant) if self.training else block(x)
        return self.head(x.mean(dim=(2, 3)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reentrant", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Net(args.reentrant)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):
        x, y = torch.randn(4, 1, 6, 6, requires_grad=args.reentrant), torch.randint(0, 3, (4,))
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")
    model.eval()
    example = torch.randn(2, 1, 6, 6)
    traced = torch.jit.trace(model, example)
    with torch.no_grad():
        print("jit.trace agrees:", torch.allclose(traced(example), model(example)))
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        print("compiled agrees:", torch.allclose(compiled(example), model(example)))
    exported = torch.export.export(model, (example,))
    with torch.no_grad():
        print("export agrees:", torch.allclose(exported.module()(example), model(example)))


if __name__ == "__main__":
    main()
