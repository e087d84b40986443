"""mnist_small's training under torchrun: DistributedDataParallel on gloo (CPU),
a DistributedSampler shard per rank, the per-image ``Normalize`` (an nn.Module,
as torchvision's) inside the Dataset, and the loss on the model's output.

    torchrun --nproc_per_node=2 -m shapetrace run tests/dist_scripts/mnist_ddp.py

``--save DIR`` writes each rank's losses and final weights to DIR/rank{R}.pt.
"""

import argparse
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "real_scripts")))
from mnist_small import Digits, Net, Normalize

IMAGES, BATCH, EPOCHS = 20, 4, 2  # 10 images a rank: batches of 4, 4 and a short 2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--save")
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(1)
    dataset = Digits(IMAGES, Normalize(0.1307, 0.3081))
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler)
    model = DistributedDataParallel(Net())
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    losses = []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for images, labels in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().clone())
    if args.save:
        torch.save({"losses": torch.stack(losses), "state": model.module.state_dict()},
                   os.path.join(args.save, f"rank{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
