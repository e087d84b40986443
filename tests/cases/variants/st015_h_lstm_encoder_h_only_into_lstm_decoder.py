"""ST015 variant: an LSTM encoder/decoder forecaster whose forward unpacks the encoder's
final state as ``_, (h, c) = self.encoder(past)`` and then hands the decoder ``h`` alone.
nn.LSTM unpacks one tensor along dim 0: with 2 layers it reads two (batch, hidden)
tensors as h_0 and c_0 and raises "For batched 3-D input, hx and cx should also be 3-D
but got (2-D, 2-D) tensors". Fix: ``(h, c)``, the pair the encoder returned (zeros for
c would start the decoder without the encoder's memory)."""

import torch
from torch import nn
from variant_work import forward, run

FEATURES, HIDDEN, LAYERS = 3, 16, 2


class Forecaster(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.encoder = nn.LSTM(FEATURES, HIDDEN, LAYERS, batch_first=True)
        self.decoder = nn.LSTM(1, HIDDEN, LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, past, dec_in):
        _, (h, c) = self.encoder(past)
        if self.fixed:
            out, _ = self.decoder(dec_in, (h, c))
        else:
            out, _ = self.decoder(dec_in, h)  # culprit
        return self.head(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = Forecaster(fixed)
    return model, forward(model, torch.randn(4, 12, FEATURES), torch.randn(4, 5, 1))


if __name__ == "__main__":
    run(make)
