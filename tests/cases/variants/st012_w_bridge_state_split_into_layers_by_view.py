"""ST012 variant: an encoder's summary (B, H) is projected to one initial state per decoder
layer, (B, layers * hidden), and cut into the GRU's h_0 with
``state.view(self.layers, B, self.dec_hidden)``: the view keeps memory order, so layer 0's
state is made of the first samples' rows, not of each sample's first slice. A GRU takes
it, nothing raises. The fix: ``state.view(B, self.layers, self.dec_hidden).transpose(0, 1)``."""

import torch
from torch import nn
from variant_work import forward, run

FEATURES, LAYERS, HIDDEN = 20, 2, 48


class Bridge(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.layers, self.dec_hidden = LAYERS, HIDDEN
        self.bridge = nn.Linear(FEATURES, LAYERS * HIDDEN)
        self.decoder = nn.GRU(6, HIDDEN, num_layers=LAYERS, batch_first=True)

    def forward(self, summary, tgt):
        B = summary.size(0)
        state = torch.tanh(self.bridge(summary))
        if self.fixed:
            h0 = state.view(B, self.layers, self.dec_hidden).transpose(0, 1)
        else:
            h0 = state.view(self.layers, B, self.dec_hidden)  # culprit
        out, _ = self.decoder(tgt, h0)
        return out


def make(fixed=False):
    torch.manual_seed(0)
    model = Bridge(fixed)
    return model, forward(model, torch.randn(16, FEATURES), torch.randn(16, 5, 6))


if __name__ == "__main__":
    run(make)
