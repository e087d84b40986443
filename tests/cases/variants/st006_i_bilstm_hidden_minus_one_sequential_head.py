"""ST006 variant (known miss (a)): a three-layer bidirectional LSTM sentiment model whose
nn.Sequential head reads ``hidden[-1]`` from ``(hidden, cell)``, a DataLoader feeding it.
``hidden[-1]`` is the top layer's backward state only. Fix: ``torch.cat((hidden[-2],
hidden[-1]), dim=1)`` into a head of 2 * hidden inputs."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

VOCAB, HIDDEN = 80, 16


class SentimentLSTM(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embedding = nn.Embedding(VOCAB, 20, padding_idx=0)
        self.rnn = nn.LSTM(20, HIDDEN, num_layers=3, bidirectional=True, dropout=0.1, batch_first=True)
        width = HIDDEN * 2 if fixed else HIDDEN
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(width, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, text):
        embedded = self.embedding(text)
        output, (hidden, cell) = self.rnn(embedded)
        if self.fixed:
            hidden = torch.cat((hidden[-2], hidden[-1]), dim=1)
            return self.head(hidden).squeeze(1)
        return self.head(hidden[-1]).squeeze(1)  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = SentimentLSTM(fixed)
    data = TensorDataset(torch.randint(1, VOCAB, (40, 18)), torch.randint(0, 2, (40,)).float())
    loader = DataLoader(data, batch_size=16, shuffle=True)
    opt = torch.optim.Adam(model.parameters())

    def work():
        model.train()
        for text, label in loader:
            loss = nn.functional.binary_cross_entropy_with_logits(model(text), label)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
