"""ST007 variant: a batch_first RNN language model that carries h_n to the next batch
(truncated BPTT); hidden size == batch size == 10, 45 sequences: 10, 10, 10, 10, 5."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

VOCAB, BATCH, HIDDEN = 30, 10, 10


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.rnn = nn.RNN(8, HIDDEN, num_layers=2, batch_first=True)
        self.decode = nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens, hidden):
        out, hidden = self.rnn(self.embed(tokens), hidden)  # culprit
        return self.decode(out), hidden


def make(fixed=False):
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (45, 6))
    loader = DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=BATCH, drop_last=fixed)
    model = LM()

    def work():
        hidden = torch.zeros(2, BATCH, HIDDEN)
        for x, y in loader:
            logits, hidden = model(x, hidden.detach())
            loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
