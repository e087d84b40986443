"""ST001 variant (known miss (b), the loud form): sentences padded into one (n, length)
tensor and cut into batches by hand; the GRU is seq-first, so its h_n is
(1, length, hidden) and the classifier gives a row per token position: cross_entropy raises
"Expected input batch_size (20) to match target batch_size (8)". The note must name the
GRU's layout, not only the loss. Fix: nn.GRU(..., batch_first=True)."""

import torch
from torch import nn
from variant_work import run

VOCAB, LENGTH, BATCH = 100, 20, 8


class NewsGRU(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.gru = nn.GRU(16, 24, batch_first=fixed)
        self.fc = nn.Linear(24, 4)

    def forward(self, ids):
        _, h_n = self.gru(self.emb(ids))  # culprit
        return self.fc(h_n[-1])


def make(fixed=False):
    torch.manual_seed(0)
    ids = torch.randint(1, VOCAB, (32, LENGTH))
    labels = torch.randint(0, 4, (32,))
    model = NewsGRU(fixed)

    def work():
        for start in range(0, len(ids), BATCH):
            logits = model(ids[start:start + BATCH])
            loss = nn.functional.cross_entropy(logits, labels[start:start + BATCH])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
