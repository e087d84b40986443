"""ST001 variant: word_language_model's training loop with ``batchify`` written as
``data.view(bsz, -1)`` (batch-first, its ``.t()`` dropped), windows cut along dim 1
(``source[:, i:i+bptt]`` against ``source[:, i+1:i+1+bptt]``), the GRU left seq-first and
its state from ``init_hidden(bsz)``. The GRU then takes the 7 steps of a window as its
batch, and the state made for a batch of 4 raises "Expected hidden size (2, 7, 16), got
[2, 4, 16]": PyTorch names the state, the cause is the layout.

Report class: how word_language_model batches, (seq_len, batch) or (batch, seq_len)
(https://github.com/pytorch/examples/issues/286).
Fix: nn.GRU(..., batch_first=True) (the state is (layers, batch, hidden) either way)."""

import sys

import torch
from torch import nn

VOCAB, EMB, HIDDEN, LAYERS = 40, 16, 16, 2


class RNNModel(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.GRU(EMB, HIDDEN, LAYERS, batch_first=fixed)
        self.decoder = nn.Linear(HIDDEN, VOCAB)

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)  # culprit
        return self.decoder(output).view(-1, VOCAB), hidden

    def init_hidden(self, bsz):
        return torch.zeros(LAYERS, bsz, HIDDEN)


def batchify(data, bsz):
    return data[: data.size(0) // bsz * bsz].view(bsz, -1)  # (bsz, N)


def make(fixed=False, bsz=4, bptt=7):
    torch.manual_seed(0)
    model = RNNModel(fixed)
    source = batchify(torch.randint(0, VOCAB, (150,)), bsz)

    def work():
        hidden = model.init_hidden(bsz)
        for i in range(0, source.size(1) - 1, bptt):
            seq_len = min(bptt, source.size(1) - 1 - i)
            data, targets = source[:, i:i + seq_len], source[:, i + 1:i + 1 + seq_len]
            output, hidden = model(data, hidden.detach())
            loss = nn.functional.cross_entropy(output, targets.reshape(-1))
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
