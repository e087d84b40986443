"""ST020 uneven-shard: sequence parallel, each rank encodes its chunk of the sequence.

The sequence has 7 steps; torch.chunk(x, 2, dim=1) gives rank 0 four steps
and rank 1 three, so all_gather gets (2, 4, 16) on one rank, (2, 3, 16) on
the other: gloo aborts a rank. ``--fixed`` pads the sequence to a multiple
of the world size, as the finding's help says.

    torchrun --nproc_per_node=2 -m shapetrace run --dist-check demos/bugs/st020_uneven_shard.py
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class ShardedEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x, rank, world):
        mine = torch.chunk(x, world, dim=1)[rank]
        return self.proj(mine)


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = ShardedEncoder()
    x = torch.randn(2, 7, 16)
    if "--fixed" in sys.argv:
        x = F.pad(x, (0, 0, 0, 1))  # the help of ST020: dim 1 padded to 8
    y = model(x, rank, world)
    gathered = [torch.empty_like(y) for _ in range(world)]
    dist.all_gather(gathered, y)
    print("gathered", tuple(torch.cat(gathered, dim=1).shape))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
