"""ST019 over-batch-axis: attention pooling whose softmax runs over the batch.

A sentiment classifier scores every time step of its batch-first LSTM output,
(batch, time), and turns the scores into attention weights with a softmax over
dim 0: each time step's weights then sum to 1 across the 6 reviews of the batch,
not across the 12 words of each review. Nothing raises; every review's summary
depends on the other reviews it was batched with.

    shapetrace run demos/bugs/st019_over_batch_axis.py
"""

import torch
from torch import nn


class AttentionLSTM(nn.Module):
    def __init__(self, vocab=50, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.score = nn.Linear(32, 1)
        self.classify = nn.Linear(32, classes)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))  # (batch, time, 32)
        scores = self.score(out).squeeze(-1)  # (batch, time)
        weights = torch.softmax(scores, dim=0)  # bug: over the batch, not the time steps
        summary = (weights.unsqueeze(-1) * out).sum(dim=1)
        return self.classify(summary)


def main():
    torch.manual_seed(0)
    model = AttentionLSTM()
    tokens, labels = torch.randint(0, 50, (6, 12)), torch.randint(0, 3, (6,))
    loss = nn.functional.cross_entropy(model(tokens), labels)
    loss.backward()


if __name__ == "__main__":
    main()
