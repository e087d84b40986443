"""ST001 variant (https://github.com/Exorust/TorchLeet/issues/5): a sentiment classifier
stacks ``nn.TransformerEncoderLayer`` without ``batch_first``, so the default (S, N, E)
reads the DataLoader's (batch, seq_len, d_model) windows with the batch as the sequence:
each sample attends over the other samples at one position. Nothing raises; the loss
stays high. The fix: ``batch_first=True``."""

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, D_MODEL, SEQ_LEN = 100, 32, 12


class SentimentTransformer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, 4, 64, dropout=0.0, batch_first=fixed)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.fc = nn.Linear(D_MODEL, 2)

    def forward(self, tokens):  # (batch, seq_len)
        x = self.encoder(self.embed(tokens))  # culprit
        return self.fc(x.mean(dim=1))


def make(fixed=False):
    torch.manual_seed(0)
    data = TensorDataset(torch.randint(0, VOCAB, (40, SEQ_LEN)), torch.randint(0, 2, (40,)))
    loader = DataLoader(data, batch_size=16)
    model = SentimentTransformer(fixed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work():
        for tokens, labels in loader:
            loss = F.cross_entropy(model(tokens), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
