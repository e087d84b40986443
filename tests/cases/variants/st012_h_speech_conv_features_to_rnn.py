"""ST012 variant (kospeech pull request #82, https://github.com/sooftware/kospeech/pull/82):
a speech encoder's conv features (batch, channels, freq, time) go to an LSTM with
``conv_feat.view(batch_size, seq_length, num_channels * hidden_dim)``. A view of
B x D x C x T cannot become B x T x (C * D): the time rows hold pieces of the
channel maps. Diagnosis: a view that cuts across channels and time. Fix:
``conv_feat.permute(0, 3, 1, 2).reshape(batch, time, channels * freq)``."""

import sys

import torch
from torch import nn


class Listener(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Hardtanh(0, 20))
        self.rnn = nn.LSTM(4 * 5, 8, batch_first=True)

    def forward(self, spectrogram):  # (batch, 1, 5 freq bins, 7 frames)
        conv_feat = self.conv(spectrogram)
        batch_size, num_channels, hidden_dim, seq_length = conv_feat.size()
        if self.fixed:
            conv_feat = conv_feat.permute(0, 3, 1, 2).reshape(batch_size, seq_length, num_channels * hidden_dim)
        else:
            conv_feat = conv_feat.contiguous().view(batch_size, seq_length, num_channels * hidden_dim)  # culprit
        out, _ = self.rnn(conv_feat)
        return out


def make(fixed=False):
    torch.manual_seed(0)
    model = Listener(fixed)

    def work():
        out = model(torch.randn(2, 1, 5, 7))
        out.mean().backward()
        print(tuple(out.shape))

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
