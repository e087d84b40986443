"""ST015 variant (https://github.com/pytorch/pytorch/issues/45437 class, with a cell): a
decoder loop ported from nn.GRUCell to nn.LSTMCell keeps passing one state tensor,
``self.cell(x_t, h)``; the LSTMCell reads it as (h, c) and raises. Fix: carry the pair,
``h, c = self.cell(x_t, (h, c))``."""

import torch
from torch import nn
from variant_work import run

HIDDEN = 14


class CaptionDecoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(40, 10)
        self.cell = nn.LSTMCell(10, HIDDEN)
        self.init_h = nn.Linear(20, HIDDEN)
        self.out = nn.Linear(HIDDEN, 40)

    def forward(self, features, captions):
        h = torch.tanh(self.init_h(features))
        c = torch.zeros_like(h)
        logits = []
        for t in range(captions.size(1)):
            x_t = self.embed(captions[:, t])
            if self.fixed:
                h, c = self.cell(x_t, (h, c))
            else:
                h = self.cell(x_t, h)  # culprit
            logits.append(self.out(h))
        return torch.stack(logits, dim=1)


def make(fixed=False):
    torch.manual_seed(0)
    model = CaptionDecoder(fixed)
    feats, caps = torch.randn(4, 20), torch.randint(0, 40, (4, 6))

    def work():
        y = model(feats, caps)
        y.sum().backward()
        print(y.shape)

    return model, work


if __name__ == "__main__":
    run(make)
