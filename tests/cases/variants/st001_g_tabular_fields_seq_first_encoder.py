"""ST001 variant (https://github.com/IBM/TabFormer/pull/14): a tabular transformer embeds
each of a row's fields, (batch, fields, d_model), and runs ``nn.TransformerEncoder``
built seq-first, so the fields of one row never attend to each other: the rows of the
batch do, field by field. The rows are then flattened per sample for the head. The
fix in the report transposes around the encoder; ``batch_first=True`` is the same."""

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FIELDS, VOCAB, D_MODEL = 6, 50, 16


class TabularBert(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.field_embed = nn.Embedding(VOCAB, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, 2, 32, dropout=0.0, batch_first=fixed)
        self.transformer_encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(FIELDS * D_MODEL, 3)

    def forward(self, fields):  # (batch, fields) ids
        h = self.transformer_encoder(self.field_embed(fields))  # culprit
        return self.head(h.reshape(h.size(0), -1))


def make(fixed=False):
    torch.manual_seed(0)
    rows = TensorDataset(torch.randint(0, VOCAB, (50, FIELDS)), torch.randint(0, 3, (50,)))
    loader = DataLoader(rows, batch_size=8)
    model = TabularBert(fixed)
    criterion = nn.CrossEntropyLoss()

    def work():
        for fields, label in loader:
            loss = criterion(model(fields), label)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
