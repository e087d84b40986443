"""ST007 variant (seq2seq): an encoder/decoder pair whose decoder builds its first state
with ``init_hidden(BATCH_SIZE)``, a module constant, instead of taking the encoder's h_n or
the batch of its input; the DataLoader's last batch (3 of 35) makes the decoder's GRU raise
"Expected hidden size (1, 3, 16), got [1, 8, 16]". Fix: the decoder starts from the
encoder's h_n (or zeros(1, x.size(0), hidden))."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import run

SRC_VOCAB, TGT_VOCAB, HIDDEN, BATCH_SIZE = 30, 25, 16, 8


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(SRC_VOCAB, HIDDEN)
        self.gru = nn.GRU(HIDDEN, HIDDEN, batch_first=True)

    def forward(self, src):
        return self.gru(self.embedding(src))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(TGT_VOCAB, HIDDEN)
        self.gru = nn.GRU(HIDDEN, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, TGT_VOCAB)

    def init_hidden(self, batch_size):
        return torch.zeros(1, batch_size, HIDDEN)

    def forward(self, tgt, hidden):
        output, hidden = self.gru(self.embedding(tgt), hidden)  # culprit
        return self.out(output), hidden


class Seq2Seq(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.encoder, self.decoder = Encoder(), Decoder()

    def forward(self, src, tgt):
        _, h_n = self.encoder(src)
        hidden = h_n if self.fixed else self.decoder.init_hidden(BATCH_SIZE)
        logits, _ = self.decoder(tgt, hidden)
        return logits


def make(fixed=False):
    torch.manual_seed(0)
    src, tgt = torch.randint(0, SRC_VOCAB, (35, 9)), torch.randint(0, TGT_VOCAB, (35, 7))
    loader = DataLoader(TensorDataset(src, tgt), batch_size=BATCH_SIZE)
    model = Seq2Seq(fixed)

    def work():
        for s, t in loader:
            logits = model(s, t[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, TGT_VOCAB), t[:, 1:].reshape(-1))
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
