"""Traces of one rank of a two-rank run, taken in process on PyTorch's fake
process group (collectives do nothing, shapes stay right).

The fake group is a private testing API: these skip where it is missing.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import shapetrace


class SequenceShard(nn.Module):
    """Each rank encodes its chunk of the sequence (sequence parallel)."""

    def __init__(self, rank: int, world: int) -> None:
        super().__init__()
        self.rank, self.world = rank, world
        self.proj = nn.Linear(16, 16)

    def forward(self, x):
        mine = torch.chunk(x, self.world, dim=1)[self.rank]
        return self.proj(mine)


def _rank0_trace(x: torch.Tensor) -> shapetrace.Trace:
    import pytest

    fake_pg = pytest.importorskip("torch.testing._internal.distributed.fake_pg")
    dist.init_process_group("fake", store=fake_pg.FakeStore(), rank=0, world_size=2)
    try:
        model = SequenceShard(0, 2)
        with shapetrace.trace() as t:
            y = model(x)
            gathered = [torch.empty_like(y) for _ in range(2)]
            dist.all_gather(gathered, y)
    finally:
        dist.destroy_process_group()
    return t


def uneven_sequence_shard() -> shapetrace.Trace:
    """A length-7 sequence in two chunks, 4 + 3, before all_gather (ST020)."""
    return _rank0_trace(torch.randn(2, 7, 16))


def padded_sequence_shard() -> shapetrace.Trace:
    """The same, padded to 8 first, as ST020's help says."""
    return _rank0_trace(F.pad(torch.randn(2, 7, 16), (0, 0, 0, 1)))
