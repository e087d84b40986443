"""ST007 variant (https://github.com/vietnh1009/Hierarchical-attention-networks-pytorch/issues/12):
a hierarchical attention network keeps its word-level bidirectional GRU state on the
model, ``self.word_hidden_state = torch.zeros(2, batch_size, hidden)``, and the training
loop resets it before every batch with ``model._init_hidden_state()``, always for the
configured batch size (evaluation passes the last batch's size, training does not).
50 documents in batches of 16 end with 2, and the GRU raises "Expected hidden size
(2, 2, 8), got [2, 16, 8]". Fix: ``model._init_hidden_state(len(labels))`` (the state
for the batch at hand)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

VOCAB, EMB, HIDDEN, CLASSES, BATCH = 30, 10, 8, 3, 16


class HierAttNet(nn.Module):
    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.embed = nn.Embedding(VOCAB, EMB)
        self.word_gru = nn.GRU(EMB, HIDDEN, bidirectional=True, batch_first=True)
        self.word_attention = nn.Linear(2 * HIDDEN, 1)
        self.fc = nn.Linear(2 * HIDDEN, CLASSES)
        self._init_hidden_state()

    def _init_hidden_state(self, last_batch_size=None):
        batch_size = last_batch_size if last_batch_size else self.batch_size
        self.word_hidden_state = torch.zeros(2, batch_size, HIDDEN)

    def forward(self, words):  # (batch, words)
        out, self.word_hidden_state = self.word_gru(self.embed(words), self.word_hidden_state)  # culprit
        weights = torch.softmax(self.word_attention(out), dim=1)
        return self.fc((weights * out).sum(dim=1))


def make(fixed=False):
    torch.manual_seed(0)
    model = HierAttNet(BATCH)
    loader = DataLoader(TensorDataset(torch.randint(0, VOCAB, (50, 11)), torch.randint(0, CLASSES, (50,))),
                        batch_size=BATCH)

    def work():
        for words, labels in loader:
            model._init_hidden_state(len(labels) if fixed else None)
            loss = nn.functional.cross_entropy(model(words), labels)
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
