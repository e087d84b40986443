"""ST027 padded-last-step: the last padded column read as each sentence's last step.

A GRU runs on packed sentences of different lengths, and `pad_packed_sequence` gives
its output back padded to the longest, with zeros after each sentence's end. The
classifier reads `padded[:, -1, :]`: the last step of the longest sentence only; every
shorter sentence gives a row of zeros. Shapes fit, nothing raises, and the model
learns from the longest sentence of each batch.

    shapetrace run demos/bugs/st027_padded_last_step.py
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class SentenceClassifier(nn.Module):
    def __init__(self, vocab=100, emb=16, hidden=32, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb, padding_idx=0)
        self.gru = nn.GRU(emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return self.fc(padded[:, -1, :])  # bug: zeros for shorter sentences; use padded[torch.arange(B), lengths - 1]


def main():
    torch.manual_seed(0)
    model = SentenceClassifier()
    lengths = torch.tensor([9, 4, 6, 2])
    tokens = torch.randint(1, 100, (4, 9)) * (torch.arange(9)[None, :] < lengths[:, None])
    print(model(tokens, lengths).shape)


if __name__ == "__main__":
    main()
