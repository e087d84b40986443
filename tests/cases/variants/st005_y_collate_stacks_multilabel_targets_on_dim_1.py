"""ST005 variant: a multi-label tagger's ``collate_fn`` stacks the samples' (K,) label vectors with
``torch.stack(labels, dim=1)``: (K, B) for (B, K) logits. Five labels, five samples a batch:
``nn.BCEWithLogitsLoss`` takes the (5, 5) target, and each sample's logits are trained against one
label across the batch. Nothing raises. The fix: ``torch.stack(labels, dim=0)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader
from variant_work import epoch, run

LABELS = 5


def make(fixed=False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, LABELS))
    criterion = nn.BCEWithLogitsLoss()
    features = torch.randn(15, 12)
    samples = [(x, (x[:LABELS] > 0).float()) for x in features]

    def collate(batch):
        xs, labels = zip(*batch)
        if fixed:
            return torch.stack(xs), torch.stack(labels, dim=0)
        return torch.stack(xs), torch.stack(labels, dim=1)  # culprit

    loader = DataLoader(samples, batch_size=5, collate_fn=collate)
    return model, epoch(model, loader, lambda x, y: criterion(model(x), y))


if __name__ == "__main__":
    run(make)
