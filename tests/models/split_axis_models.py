"""RNNs on a token stream batchified inside the traced block, as pytorch/examples'
word_language_model does (``data.view(bsz, -1).t()``): the view splits the stream into
two pieces, the batch and the time axis, both born of one tensor. Lineage must tell
them apart (by stride), or the code taking the last step of one reads as taking it of
the other.

``make(name, fixed) -> (model, work)``; ``work()`` batchifies, cuts windows and predicts
the token after each window from the last step (no target shift, no loss: an evaluation
loop), so the only clue is how the code reads the RNN's output.

``seq_first_stream``: seq-first on purpose (``.t()`` kept, ``out[-1]``): correct.
``batch_first_stream``: ``.t()`` dropped (rows of (B, N)), windows ``data[:, i:i+T]``,
``out[:, -1]`` as batch-first code reads it, the RNN left seq-first (ST001);
``fixed`` builds it with ``batch_first=True``.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

VOCAB, EMB, HIDDEN = 30, 8, 12


class NextToken(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HIDDEN, batch_first=batch_first)
        self.fc = nn.Linear(HIDDEN, VOCAB)


class SeqFirstNextToken(NextToken):
    def forward(self, x):  # (T, B)
        out, _ = self.rnn(self.emb(x))
        return self.fc(out[-1])


class BatchFirstNextToken(NextToken):
    def forward(self, x):  # (B, T)
        out, _ = self.rnn(self.emb(x))
        return self.fc(out[:, -1])


def stream_windows(model: nn.Module, seq_first: bool, bsz: int = 4, bptt: int = 6):
    torch.manual_seed(0)
    stream = torch.randint(0, VOCAB, (bsz * 50 + 3,))

    def work():
        with torch.no_grad():
            rows = stream[: stream.size(0) // bsz * bsz].view(bsz, -1)  # (B, N)
            data = rows.t() if seq_first else rows
            length = data.size(0 if seq_first else 1)
            for i in range(0, length - bptt, bptt):
                x = data[i:i + bptt] if seq_first else data[:, i:i + bptt]
                model(x).argmax(-1)

    return model, work


def make(name: str, fixed: bool = False):
    if name == "seq_first_stream":
        return stream_windows(SeqFirstNextToken(False), seq_first=True)
    return stream_windows(BatchFirstNextToken(fixed), seq_first=False)


NAMES = ["seq_first_stream", "batch_first_stream"]

if __name__ == "__main__":
    make(sys.argv[1], "--fixed" in sys.argv)[1]()
