"""One rank of the --dist-check benchmark (launched by benchmarks/dist_check.py).

Times all_reduce calls of two sizes, first inside the recording window (the
first 64 collectives: each is recorded, written to trace.rank{R}.json and,
with --dist-check, compared across ranks first), then after it.
"""

import json
import sys
import time

import torch
import torch.distributed as dist

WARMUP, TIMED = 5, 25  # per size: 2 * (5 + 25) = 60 collectives, inside the window of 64


def _time(tensor):
    start = time.perf_counter()
    for _ in range(TIMED):
        dist.all_reduce(tensor)
    return (time.perf_counter() - start) / TIMED


def main():
    dist.init_process_group("gloo")
    tensors = {numel: torch.ones(numel) for numel in (1024, 1 << 20)}
    timings = {}
    for numel, tensor in tensors.items():  # collectives 1-60: inside the window
        for _ in range(WARMUP):
            dist.all_reduce(tensor)
        timings[f"in window, {numel}"] = _time(tensor)
    for _ in range(4):  # 61-64: the window closes
        dist.barrier()
    for numel, tensor in tensors.items():
        timings[f"after, {numel}"] = _time(tensor)
    if dist.get_rank() == 0:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump(timings, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
