"""ST017 positional-table-on-batch: the tutorial's seq-first positional table before a
batch_first encoder.

The PyTorch tutorial's PositionalEncoding keeps ``pe`` as (max_len, 1, d_model) and adds
``self.pe[:x.size(0)]``: right for its (seq_len, batch, d_model) data. Moved before an
encoder built with ``batch_first=True``, x is (batch, seq_len, d_model): the table is
cut to the batch size and broadcast over time, so each sample gets one position's code
at every step and the model sees no order. Nothing raises while batch <= max_len.
(The class of https://github.com/KasperGroesLudvigsen/influenza_transformer/issues/9.)

    shapetrace run demos/bugs/st017_positional_table.py
"""

import math

import torch
from torch import nn

D_MODEL, MAX_LEN = 32, 128


class PositionalEncoding(nn.Module):
    def __init__(self, d_model=D_MODEL, max_len=MAX_LEN):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):  # written for (seq_len, batch, d_model)
        return x + self.pe[:x.size(0)]  # bug: x is (batch, seq_len, d_model) here


class Tagger(nn.Module):
    def __init__(self, vocab=1000, tags=9):
        super().__init__()
        self.embed = nn.Embedding(vocab, D_MODEL)
        self.pos = PositionalEncoding()
        layer = nn.TransformerEncoderLayer(D_MODEL, 4, 64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.out = nn.Linear(D_MODEL, tags)

    def forward(self, tokens):  # (batch, seq_len)
        return self.out(self.encoder(self.pos(self.embed(tokens))))


def main():
    torch.manual_seed(0)
    tokens, tags = torch.randint(0, 1000, (16, 40)), torch.randint(0, 9, (16, 40))
    model = Tagger()
    loss = nn.functional.cross_entropy(model(tokens).transpose(1, 2), tags)
    loss.backward()
    print(f"loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
