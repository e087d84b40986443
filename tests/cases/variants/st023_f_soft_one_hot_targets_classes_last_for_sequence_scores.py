"""ST023 variant: a sequence labeller trained with label-smoothed class probabilities. The scores
go to ``nn.CrossEntropyLoss`` as (B, C, T), the classes in dim 1 as the loss takes them; the soft
targets are ``F.one_hot(tags, C)``, which puts the classes last: (B, T, C). With T == C == 6 the
shapes are equal, the loss runs, and it normalizes over the time axis of the targets. The fix:
``soft.permute(0, 2, 1)``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

CLASSES = 6


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(30, 12), nn.Linear(12, CLASSES))
    criterion = nn.CrossEntropyLoss()
    tokens, tags = torch.randint(0, 30, (8, 6)), torch.randint(0, CLASSES, (8, 6))
    loader = DataLoader(TensorDataset(tokens, tags), batch_size=4)

    def loss_of(tokens, tags):
        scores = model(tokens).permute(0, 2, 1)  # (B, C, T)
        soft = F.one_hot(tags, CLASSES).float() * 0.9 + 0.1 / CLASSES
        if fixed:
            return criterion(scores, soft.permute(0, 2, 1))
        return criterion(scores, soft)  # culprit

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
