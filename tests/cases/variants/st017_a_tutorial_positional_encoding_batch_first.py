"""ST017 variant (https://github.com/KasperGroesLudvigsen/influenza_transformer/issues/9):
a time-series transformer built with ``batch_first=True`` keeps the PositionalEncoding of
the PyTorch tutorial, which is seq-first: ``pe`` is (max_seq_len, 1, d_model) and
``x + self.pe[:x.size(0)]`` cuts it to the *batch* size and broadcasts it over time.
Every sample gets one position's code at every step; nothing raises while the batch
is no longer than max_seq_len. The fix: a (1, max_seq_len, d_model) table cut to
``x.size(1)``."""

import math
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

D_MODEL, MAX_SEQ_LEN = 16, 64


class PositionalEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        position = torch.arange(MAX_SEQ_LEN).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, D_MODEL, 2) * (-math.log(10000.0) / D_MODEL))
        pe = torch.zeros(MAX_SEQ_LEN, 1, D_MODEL)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.transpose(0, 1) if fixed else pe)

    def forward(self, x):  # (batch, seq_len, d_model)
        if self.fixed:
            return x + self.pe[:, :x.size(1)]
        return x + self.pe[:x.size(0)]  # culprit


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.input_layer = nn.Linear(1, D_MODEL)
        self.positional_encoding_layer = PositionalEncoder(fixed)
        layer = nn.TransformerEncoderLayer(D_MODEL, 4, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D_MODEL, 1)

    def forward(self, src):  # (batch, seq_len, 1)
        x = self.positional_encoding_layer(self.input_layer(src))
        return self.head(self.encoder(x)[:, -1])


def make(fixed=False):
    torch.manual_seed(0)
    series = torch.sin(torch.linspace(0, 20, 60 * 25)).view(60, 25, 1)
    loader = DataLoader(TensorDataset(series[:, :24], series[:, 24]), batch_size=16)
    model = Forecaster(fixed)

    def work():
        for src, target in loader:
            loss = nn.functional.mse_loss(model(src), target)
            loss.backward()
        print(f"loss {loss.item():.4f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
