"""The article's forecaster trained with DistributedDataParallel on gloo (CPU).

    torchrun --nproc_per_node=2 demos/ddp_forecaster.py
    torchrun --nproc_per_node=2 -m shapetrace run --dist-check demos/ddp_forecaster.py

Each rank trains on its DistributedSampler shard (drop_last=True: every rank
the same number of full batches, as the model's views need); DDP averages the
gradients. ``--save PATH`` writes rank 0's final weights, the losses and
DDP's bucket sizes, to compare a traced run with an untraced one.
"""

import argparse

import torch
import torch.distributed as dist
from lstm_forecaster import LSTM, load_windows
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--save")
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    seq, label = load_windows(hours=24 * 4)
    dataset = TensorDataset(seq, label)
    sampler = DistributedSampler(dataset, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(dataset, batch_size=5, sampler=sampler, drop_last=True)
    model = DistributedDataParallel(LSTM(input_size=1, hidden_size=16, num_layers=2, output_size=1, batch_size=5))
    loss_function = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step, (input_seq, target) in enumerate(loader):
        pred = model(input_seq)
        loss = loss_function(pred, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach().clone())
        if rank == 0:
            print(f"step {step}  loss {loss.item():.6f}")
        if step + 1 == args.steps:
            break
    if args.save and rank == 0:
        buckets = model._get_ddp_logging_data().get("bucket_sizes")
        torch.save({"state": model.module.state_dict(), "losses": torch.stack(losses), "buckets": buckets},
                   args.save)
    # Both ranks done before either tears gloo down: rank 0 saves while rank 1 would already exit.
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
