"""ST014 variant (squeeze of a batch of one, on a recurrent state): a sentiment
LSTM classifies from ``h_n.squeeze()``, meant to drop the layer dim of
(1, batch, hidden). Scored one review at a time (a loader with batch_size=1),
the batch axis goes too: (hidden,), and the head returns (classes,) where
(1, classes) was meant; ``softmax(dim=-1)`` hides it. Diagnosis: a bare squeeze
that removes the batch axis (dim 1 of h_n, the LSTM's N). Fix: ``h_n.squeeze(0)``
(or ``h_n[-1]``)."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Sentiment(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):  # (batch, length)
        _, (h_n, _) = self.lstm(self.embed(tokens))
        if self.fixed:
            features = h_n.squeeze(0)
        else:
            features = h_n.squeeze()  # culprit
        return self.head(features).softmax(dim=-1)


def make(fixed=False):
    torch.manual_seed(0)
    reviews = DataLoader(TensorDataset(torch.randint(0, 20, (3, 7))), batch_size=1)
    model = Sentiment(fixed)

    def work():
        with torch.no_grad():
            for (tokens,) in reviews:
                print(model(tokens).shape)

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
