"""ST023 variant: a GRU decoder with teacher forcing collects its per-step logits (B, 1, V) and joins
them with ``torch.cat(outputs, dim=0)``: (T * B, 1, V), rows step-major. The loop flattens them to
(T * B, V) and the DataLoader's target tokens (B, T) to (B * T,), batch-major. The row counts agree,
``nn.CrossEntropyLoss`` runs, and each step's scores are trained against another position's token.
The fix: ``torch.cat(outputs, dim=1)`` in the decoder, where the finding is (the pieces kept their
size-1 step dim: a join along it was meant)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run

VOCAB = 9


class Decoder(nn.Module):
    def __init__(self, fixed):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(VOCAB, 8)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.out = nn.Linear(8, VOCAB)

    def forward(self, target):
        state, token, outputs = None, torch.zeros(target.size(0), dtype=torch.long), []
        for step in range(target.size(1)):
            hidden, state = self.gru(self.embed(token).unsqueeze(1), state)
            outputs.append(self.out(hidden))  # (B, 1, VOCAB)
            token = target[:, step]
        return torch.cat(outputs, dim=1 if self.fixed else 0)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = Decoder(fixed)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(torch.randint(0, VOCAB, (10, 6))), batch_size=5)

    def loss_of(tgt):
        return criterion(model(tgt).reshape(-1, VOCAB), tgt.reshape(-1))

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
