"""ST006 variant: unsorted packed sequences through a seq-first bidirectional GRU, padded
back and read at the last valid step with an index built from the lengths."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from variant_work import forward, run


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.rnn = nn.GRU(4, 5, bidirectional=True)

    def forward(self, x, lengths):  # x: (time, batch, 4)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        if self.fixed:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        padded, _ = pad_packed_sequence(out)
        return padded[lengths - 1, torch.arange(x.size(1))]  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = Encoder(fixed)

    return model, forward(model, torch.randn(6, 3, 4), torch.tensor([4, 6, 2]))


if __name__ == "__main__":
    run(make)
