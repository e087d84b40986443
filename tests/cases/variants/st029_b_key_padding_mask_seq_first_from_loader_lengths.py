"""ST029 variant: a batch-first ``nn.TransformerEncoder`` tags tokens, and the training loop builds
its ``src_key_padding_mask`` from the lengths the DataLoader yields with the seq-first recipe,
``torch.arange(S)[:, None] >= lengths[None, :]``: (S, N), where the layer takes (N, S) in either
layout. Six sequences of six tokens a batch: nothing raises, and each sample's keys are masked by
the other samples' lengths. The fix: ``torch.arange(S)[None, :] >= lengths[:, None]``."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


class Tagger(nn.Module):
    def __init__(self, vocab=30, width=16, tags=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        layer = nn.TransformerEncoderLayer(width, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.out = nn.Linear(width, tags)

    def forward(self, tokens, padding):
        return self.out(self.encoder(self.embed(tokens), src_key_padding_mask=padding))


def make(fixed=False):
    torch.manual_seed(0)
    model = Tagger()
    lengths = torch.tensor([6, 3, 6, 2, 5, 6, 4, 6, 6, 1, 6, 3])
    tokens = torch.randint(1, 30, (12, 6)) * (torch.arange(6)[None, :] < lengths[:, None])
    tags = torch.randint(0, 5, (12, 6))
    loader = DataLoader(TensorDataset(tokens, lengths, tags), batch_size=6)
    criterion = nn.CrossEntropyLoss()

    def loss_of(tokens, lengths, tags):
        steps = tokens.size(1)
        if fixed:
            padding = torch.arange(steps)[None, :] >= lengths[:, None]
        else:
            padding = torch.arange(steps)[:, None] >= lengths[None, :]  # culprit
        return criterion(model(tokens, padding).flatten(0, 1), tags.flatten())

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
