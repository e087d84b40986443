"""ST027 variant: a sentence classifier runs a GRU on packed sentences of different lengths,
unpacks it with ``pad_packed_sequence`` and reads ``padded[:, -1, :]``: the last padded
column, a row of zeros for every sentence shorter than the longest of the batch. The fix
reads each sentence's last step, ``padded[torch.arange(padded.size(0)), lengths - 1]``."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from variant_work import forward, run


class SentenceGRU(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embedding = nn.Embedding(300, 24, padding_idx=0)
        self.gru = nn.GRU(24, 40, num_layers=2, batch_first=True)
        self.fc = nn.Linear(40, 4)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        packed_out, _ = self.gru(packed)
        padded, _ = pad_packed_sequence(packed_out, batch_first=True)
        if self.fixed:
            sentence = padded[torch.arange(padded.size(0)), lengths - 1]
        else:
            sentence = padded[:, -1, :]  # culprit
        return self.fc(sentence)


def make(fixed=False):
    torch.manual_seed(0)
    model = SentenceGRU(fixed)
    lengths = torch.tensor([11, 4, 7, 9, 2])
    tokens = torch.randint(1, 300, (5, 11)) * (torch.arange(11)[None, :] < lengths[:, None])
    return model, forward(model, tokens, lengths)


if __name__ == "__main__":
    run(make)
