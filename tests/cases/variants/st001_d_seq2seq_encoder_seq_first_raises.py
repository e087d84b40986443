"""ST001 variant: an LSTM encoder/decoder pair (a translation model) on batch-first
(batch, length) token batches; the decoder is built with batch_first=True, the encoder
keeps the default. The encoder's h_n is then (layers, src_len, hidden), and handing it
to the decoder raises "Expected hidden[0] size (1, 8, 32), got [1, 12, 32]": the error
is at the decoder, the cause is the encoder's layout.

Report class: "RuntimeError: Expected hidden[0] size (2, 1, 512), got [2, 128, 512]"
in a seq2seq model (https://github.com/bentrevett/pytorch-seq2seq/issues/162).
Fix: nn.LSTM(..., batch_first=True) in the encoder too."""

import sys

import torch
from torch import nn

SRC_VOCAB, TGT_VOCAB, EMB, HIDDEN = 40, 30, 16, 32


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embedding = nn.Embedding(SRC_VOCAB, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN, batch_first=fixed)

    def forward(self, src):  # (batch, src_len)
        _, state = self.lstm(self.embedding(src))  # culprit
        return state


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(TGT_VOCAB, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, TGT_VOCAB)

    def forward(self, tgt, state):  # (batch, tgt_len)
        output, state = self.lstm(self.embedding(tgt), state)
        return self.out(output), state


class Seq2Seq(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.encoder, self.decoder = Encoder(fixed), Decoder()

    def forward(self, src, tgt):
        logits, _ = self.decoder(tgt, self.encoder(src))
        return logits


def make(fixed=False):
    torch.manual_seed(0)
    model = Seq2Seq(fixed)

    def work():
        src = torch.randint(0, SRC_VOCAB, (8, 12))
        tgt = torch.randint(0, TGT_VOCAB, (8, 10))
        logits = model(src, tgt[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, TGT_VOCAB), tgt[:, 1:].reshape(-1))
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
