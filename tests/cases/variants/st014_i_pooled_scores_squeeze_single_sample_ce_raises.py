"""ST014 variant: an attention-pooled classifier ends in ``torch.bmm(w, h).squeeze()``
to drop the pooled axis of (batch, 1, classes). Predicting one sample (batch 1) squeezes
the batch away too: (classes,) into ``F.cross_entropy`` with a (1,) target, which
PyTorch reads as one unbatched sample and rejects only in the backward pass.
Fix: ``.squeeze(1)``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run


class PooledClassifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.score = nn.Linear(8, 1)
        self.cls = nn.Linear(8, 5)

    def forward(self, h):  # (batch, items, 8)
        w = torch.softmax(self.score(h), dim=1).transpose(1, 2)  # (batch, 1, items)
        pooled = torch.bmm(w, self.cls(h))  # (batch, 1, 5)
        if self.fixed:
            return pooled.squeeze(1)
        return pooled.squeeze()  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = PooledClassifier(fixed)

    def work():
        h, label = torch.randn(1, 6, 8), torch.tensor([2])
        loss = F.cross_entropy(model(h), label)
        loss.backward()  # PyTorch raises here: "size mismatch (got input: [5], target: [1])"
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
