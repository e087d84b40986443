"""ST006 bidirectional-last-step: ``output[:, -1, :]`` of a bidirectional LSTM.

A review sentiment classifier with a bidirectional LSTM. The head reads the
output at the last word: its forward half has read the whole review, but its
backward half has read that last word only. Use h_n of both directions.

    shapetrace run demos/bugs/st006_bidirectional_last_step.py
"""

import torch
from torch import nn

VOCABULARY = 1000


class SentimentClassifier(nn.Module):
    def __init__(self, embedding_dim=32, hidden_size=48):
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden_size, 2)

    def forward(self, tokens):  # tokens: (batch, words)
        output, (h_n, c_n) = self.lstm(self.embedding(tokens))  # output (batch, words, 96)
        return self.head(output[:, -1, :])  # bug: the backward half has seen one word


def main():
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCABULARY, (16, 40))
    labels = torch.randint(0, 2, (16,))
    model = SentimentClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(tokens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
