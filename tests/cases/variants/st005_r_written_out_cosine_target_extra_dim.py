"""ST005 variant: a cosine loss between predicted and target embeddings,
``(1 - F.cosine_similarity(pred, target, dim=-1)).mean()``, with the target kept as
(B, 1, D) from its dataset; against the (B, D) prediction it broadcasts to (B, B, D):
every embedding is pulled towards every target, and PyTorch warns of nothing."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16))

    def work():
        x, target = torch.randn(6, 12), torch.randn(6, 1, 16)  # one target embedding per sample
        if fixed:
            target = target.squeeze(1)
        step((1 - F.cosine_similarity(model(x), target, dim=-1)).mean())  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
