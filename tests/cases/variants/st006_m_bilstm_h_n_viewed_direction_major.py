"""ST006 variant (known miss (c): a bidirectional h_n viewed wrongly; the layout is the one
https://github.com/pytorch/pytorch/pull/74291 spells out): a two-layer bidirectional LSTM
whose h_n is split with ``h_n.view(2, num_layers, batch, hidden)``, read as (direction,
layer). h_n is layer-major, (num_layers, 2) flattened, so ``h[0, -1]`` is row 1 (layer 0's
backward state) and ``h[1, -1]`` row 3 (layer 1's backward state): the "forward" half is a
backward state of the first layer and no forward state is read. Fix:
``h_n.view(num_layers, 2, batch, hidden)`` and ``torch.cat((h[-1, 0], h[-1, 1]), dim=1)``."""

import torch
from torch import nn
from variant_work import run

LAYERS, HIDDEN = 2, 10


class DocumentEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(70, 12)
        self.lstm = nn.LSTM(12, HIDDEN, num_layers=LAYERS, bidirectional=True, batch_first=True)
        self.classify = nn.Linear(2 * HIDDEN, 5)

    def forward(self, tokens):
        batch = tokens.size(0)
        _, (h_n, _) = self.lstm(self.embed(tokens))
        if self.fixed:
            h = h_n.view(LAYERS, 2, batch, HIDDEN)
            return self.classify(torch.cat((h[-1, 0], h[-1, 1]), dim=1))
        h = h_n.view(2, LAYERS, batch, HIDDEN)
        return self.classify(torch.cat((h[0, -1], h[1, -1]), dim=1))  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = DocumentEncoder(fixed)
    tokens, labels = torch.randint(0, 70, (12, 16)), torch.randint(0, 5, (12,))

    def work():
        for i in range(0, 12, 4):
            loss = nn.functional.cross_entropy(model(tokens[i:i + 4]), labels[i:i + 4])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
