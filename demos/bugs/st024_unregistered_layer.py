"""ST024 unregistered-layer: hidden layers kept in a plain Python list.

A small regression MLP keeps its hidden layers in `self.hidden = [...]`, a plain
list. They run, every shape is right and the loss goes down a little, but a plain
list registers nothing: `model.parameters()` holds only the output layer, so the
optimizer never updates the hidden layers (and `.to(device)` would not move them,
nor `state_dict()` save them).

    shapetrace run demos/bugs/st024_unregistered_layer.py
"""

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, features=6, width=32, depth=3):
        super().__init__()
        self.hidden = [nn.Linear(features if i == 0 else width, width) for i in range(depth)]  # bug: a plain list
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


def main():
    torch.manual_seed(0)
    model = MLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(64, 6)
    y = x.sum(dim=1, keepdim=True)
    for _ in range(20):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"loss {loss.item():.3f}; parameters the optimizer sees: {sum(p.numel() for p in model.parameters())}")


if __name__ == "__main__":
    main()
