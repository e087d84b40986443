"""One rank of the --dist-check benchmark (launched by benchmarks/dist_check.py).

Times all_reduce calls of two sizes; every call lies in the recording window
(64 collectives), so each is recorded, written to trace.rank{R}.json and,
with --dist-check, compared across ranks first.
"""

import json
import sys
import time

import torch
import torch.distributed as dist

WARMUP, TIMED = 5, 25  # per size: 2 * (5 + 25) = 60 collectives, inside the window of 64


def main():
    dist.init_process_group("gloo")
    timings = {}
    for numel in (1024, 1 << 20):
        tensor = torch.ones(numel)
        for _ in range(WARMUP):
            dist.all_reduce(tensor)
        start = time.perf_counter()
        for _ in range(TIMED):
            dist.all_reduce(tensor)
        timings[numel] = (time.perf_counter() - start) / TIMED
    if dist.get_rank() == 0:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump(timings, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
