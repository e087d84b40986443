"""ST018 variant ("Expected target size [4, 9], got [4, 7]"): a batch-first LSTM tagger
returns (batch, time, tags) logits, given as they are to ``nn.CrossEntropyLoss()`` with
(batch, time) targets; PyTorch reads dim 1 (time) as the classes and raises. Fix:
``logits.transpose(1, 2)`` (or ``logits.reshape(-1, tags)`` with ``targets.reshape(-1)``)."""

import torch
from torch import nn
from variant_work import run, step


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 16, batch_first=True)
        self.out = nn.Linear(16, 9)

    def forward(self, tokens):
        h, _ = self.lstm(self.emb(tokens))
        return self.out(h)  # (batch, time, tags)


def make(fixed=False):
    torch.manual_seed(0)
    model = Tagger()
    criterion = nn.CrossEntropyLoss()

    def work():
        tokens, tags = torch.randint(0, 50, (4, 7)), torch.randint(0, 9, (4, 7))
        logits = model(tokens)
        if fixed:
            logits = logits.transpose(1, 2)
        step(criterion(logits, tags))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
