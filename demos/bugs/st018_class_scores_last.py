"""ST018 class-scores-last: a part-of-speech tagger whose cross-entropy gets (B, T, C).

The tagger's Linear gives one score per tag at every position, (batch, time,
tags), and nn.CrossEntropyLoss takes the classes in dim 1, (N, C, d1): it
reads the 12 time steps as the classes and raises "Expected target size
[4, 5], got [4, 12]".

    shapetrace run demos/bugs/st018_class_scores_last.py
"""

import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self, vocab=100, tags=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.lstm = nn.LSTM(16, 32, batch_first=True, bidirectional=True)
        self.tag_scores = nn.Linear(64, tags)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.tag_scores(out)  # (batch, time, tags)


def main():
    torch.manual_seed(0)
    model, criterion = Tagger(), nn.CrossEntropyLoss()
    tokens, tags = torch.randint(0, 100, (4, 12)), torch.randint(0, 5, (4, 12))
    scores = model(tokens)
    loss = criterion(scores, tags)  # bug: the classes are in the last dim
    loss.backward()


if __name__ == "__main__":
    main()
