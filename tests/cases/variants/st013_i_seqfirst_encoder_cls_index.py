"""ST013 variant (a [CLS] token read from a seq-first ``nn.TransformerEncoder``): the
encoder is built with the default ``batch_first=False``, so its output is
(positions, batch, d_model), and ``x[:, 0]`` takes sample 0 at every position,
(positions, d_model), where the first position of every sample was meant. With
as many positions as samples (8 and 8) the classifier and the loss accept it: the
loss treats positions as the batch. Diagnosis: an index on the batch axis where
the position axis was meant. Fix: ``x[0]`` (or build the encoder with
``batch_first=True`` and feed it (batch, positions, d_model))."""

import torch
from torch import nn
from variant_work import run, train_step


class Classifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(30, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):  # (positions, batch): the encoder is seq-first
        x = self.encoder(self.embed(tokens))
        if self.fixed:
            cls = x[0]
        else:
            cls = x[:, 0]  # culprit
        return self.head(cls)


def make(fixed=False):
    torch.manual_seed(0)
    model = Classifier(fixed)

    tokens, labels = torch.randint(0, 30, (10, 8)), torch.randint(0, 3, (8,))
    return model, train_step(model, nn.functional.cross_entropy, tokens, labels)


if __name__ == "__main__":
    run(make)
