"""Shape bugs that make ranks disagree at a collective, one per scenario.

    torchrun --nproc_per_node=2 -m shapetrace run --dist-check divergences.py -- SCENARIO [--fixed]

rank_batch: a rank-dependent batch (7 samples sharded by data[rank::world])
before all_reduce. branch: a pooling branch taken on rank 1 only. dtype:
rank 1 casts its output to float64. transpose: rank 1 permutes (2, 3) to
(3, 2), the same element count, which gloo's all_reduce silently accepts.
skip: rank 1 never calls the all_reduce. ``--fixed`` makes every rank do the same.
"""

import sys

import torch
import torch.distributed as dist
from torch import nn


class Head(nn.Module):
    def __init__(self, pool=False, out_dtype=torch.float32, order=(0, 1)):
        super().__init__()
        self.proj = nn.Linear(8, 4)
        self.pool, self.out_dtype, self.order = pool, out_dtype, order

    def forward(self, x):
        h = self.proj(x)
        if self.pool:
            h = h.mean(dim=1)
        h = h.to(self.out_dtype)
        return h.permute(self.order) if h.dim() == 2 else h


def main():
    scenario, fixed = sys.argv[1], "--fixed" in sys.argv
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    odd = rank == 1 and not fixed
    if scenario == "rank_batch":
        data = torch.randn(7, 8)
        if fixed:
            data = data[: len(data) // world * world]  # drop the remainder: every rank gets the same batch
        model, x = Head(), data[rank::world]
    elif scenario == "branch":
        model, x = Head(pool=odd), torch.randn(4, 6, 8)
    elif scenario == "dtype":
        model, x = Head(out_dtype=torch.float64 if odd else torch.float32), torch.randn(4, 8)
    elif scenario == "skip":
        model, x = Head(), torch.randn(4, 8)
    elif scenario == "transpose":
        model, x = Head(order=(1, 0) if odd else (0, 1)), torch.randn(3, 8)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    out = model(x)
    if not (scenario == "skip" and odd):
        dist.all_reduce(out)
    print(f"rank {rank}: all_reduce gave {tuple(out.shape)}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
