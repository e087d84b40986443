"""ST004 non-contiguous-view: ``.view`` on a batch_first LSTM's output.

A part-of-speech tagger: embeddings, an LSTM with ``batch_first=True``, and a
Linear classifying every token. The LSTM returns its output as a transposed
view (batch_first swaps axes of a seq-first result), so flattening it with
``.view(-1, hidden)`` raises; the article calls ``.contiguous()`` first.

    shapetrace run demos/bugs/st004_noncontiguous_view.py
"""

import torch
from torch import nn

VOCABULARY, TAGS = 500, 12


class Tagger(nn.Module):
    def __init__(self, embedding_dim=32, hidden_size=64):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(VOCABULARY, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, TAGS)

    def forward(self, tokens):  # tokens: (batch, words)
        output, _ = self.lstm(self.embedding(tokens))  # (batch, words, hidden)
        flat = output.view(-1, self.hidden_size)  # bug: output.contiguous().view(...) or reshape
        return self.classifier(flat)  # (batch * words, tags)


def main():
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCABULARY, (8, 20))
    tags = torch.randint(0, TAGS, (8 * 20,))
    model = Tagger()
    loss = nn.functional.cross_entropy(model(tokens), tags)
    loss.backward()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
