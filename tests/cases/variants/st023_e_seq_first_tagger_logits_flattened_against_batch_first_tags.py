"""ST023 variant: a part-of-speech tagger runs a seq-first LSTM (the tokens transposed to (T, B)
in its forward) and returns logits (T, B, C). The loop flattens them to (T * B, C) and the
DataLoader's tags (B, T) to (B * T,): row r is step r // B of sample r % B in the one and step
r % T of sample r // T in the other. Both have 60 rows, ``nn.CrossEntropyLoss`` runs, and each
score is trained against another position's tag. The fix: ``tags.t().reshape(-1)``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

TAGS = 4


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 16)  # seq-first, fed (T, B) below
        self.out = nn.Linear(16, TAGS)

    def forward(self, tokens):
        hidden, _ = self.lstm(self.embed(tokens.t()))
        return self.out(hidden)  # (T, B, TAGS)


def make(fixed=False):
    torch.manual_seed(0)
    model = Tagger()
    criterion = nn.CrossEntropyLoss()
    tokens, tags = torch.randint(0, 50, (12, 10)), torch.randint(0, TAGS, (12, 10))
    loader = DataLoader(TensorDataset(tokens, tags), batch_size=6)

    def loss_of(tokens, tags):
        logits = model(tokens)
        if fixed:
            return criterion(logits.reshape(-1, TAGS), tags.t().reshape(-1))
        return criterion(logits.reshape(-1, TAGS), tags.reshape(-1))  # culprit

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
