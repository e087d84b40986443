"""ST006 variant (known miss (a)): padded sentences packed into a two-layer bidirectional
LSTM (seq-first, as the torchtext tutorials wrote it); the classifier reads ``hidden[-1]``,
the top layer's backward direction alone. Fix: ``torch.cat((hidden[-2], hidden[-1]), dim=1)``."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from variant_work import run

VOCAB, HIDDEN = 60, 10


class PackedClassifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embedding = nn.Embedding(VOCAB, 12)
        self.rnn = nn.LSTM(12, HIDDEN, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(HIDDEN * 2 if fixed else HIDDEN, 1)

    def forward(self, text, lengths):  # text: (max_len, batch)
        packed = pack_padded_sequence(self.embedding(text), lengths, enforce_sorted=False)
        _, (hidden, _) = self.rnn(packed)
        if self.fixed:
            return self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1))
        return self.fc(hidden[-1])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = PackedClassifier(fixed)
    text = torch.randint(1, VOCAB, (11, 6))
    lengths = torch.tensor([11, 4, 9, 7, 11, 2])
    labels = torch.randint(0, 2, (6, 1)).float()

    def work():
        loss = nn.functional.binary_cross_entropy_with_logits(model(text, lengths), labels)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
