"""ST006 variant (the reading asked about in https://github.com/pytorch/pytorch/issues/3587:
the output of a bidirectional RNN at the last step holds the backward direction's
*first* step): a bidirectional GRU runs over zero-padded, unpacked token batches and
each sequence is read at its last real token by advanced indexing,
``out[torch.arange(batch), lengths - 1]`` (no packing, no gather). The forward half
there has read the sentence, the backward half only its last token. Nothing raises.
Fix: the two directions' final states, ``torch.cat([out[rows, lengths - 1, :H],
out[:, 0, H:]], 1)`` (or pack the batch and use ``h_n``)."""

import torch
from torch import nn
from variant_work import run

VOCAB, EMB, HIDDEN = 40, 8, 7


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(VOCAB, EMB, padding_idx=0)
        self.gru = nn.GRU(EMB, HIDDEN, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * HIDDEN, 3)

    def forward(self, tokens, lengths):
        out, _ = self.gru(self.embed(tokens))
        rows = torch.arange(tokens.size(0))
        if self.fixed:
            last = torch.cat([out[rows, lengths - 1, :HIDDEN], out[:, 0, HIDDEN:]], dim=1)
        else:
            last = out[rows, lengths - 1]  # culprit
        return self.fc(last)


def make(fixed=False):
    torch.manual_seed(0)
    model = Encoder(fixed)
    lengths = torch.tensor([9, 7, 4, 9, 2])
    tokens = torch.randint(1, VOCAB, (5, 9)) * (torch.arange(9) < lengths[:, None])
    labels = torch.randint(0, 3, (5,))

    def work():
        loss = nn.functional.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
