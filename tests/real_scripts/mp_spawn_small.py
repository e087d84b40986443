"""torch.multiprocessing.spawn, as DDP tutorials start their workers: each rank trains a small
regressor. `python mp_spawn_small.py 6` builds its last Linear with in_features=6 (a shape bug:
the layer before gives 8), which each child raises on."""
import sys

import torch
import torch.multiprocessing as mp
from torch import nn

HIDDEN_IN = int(sys.argv[1]) if len(sys.argv) > 1 else 8


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(HIDDEN_IN, 1))

    def forward(self, x):
        return self.body(x)


def train(rank, steps):
    torch.manual_seed(rank)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"rank {rank} done", flush=True)


if __name__ == "__main__":
    mp.spawn(train, args=(3,), nprocs=2)
    print("all done")
