"""ST002 variant (the gap of a view whose output is only ever sliced shorter): a
seq2seq decoder with a time-major GRU makes its teacher-forcing inputs from batch-first
embeddings (batch, time, emb) with ``emb.view(time, batch, -1)[:-1]`` (every step but the
last) where ``emb.transpose(0, 1)[:-1]`` was meant. The crop along the wrongly viewed
time axis is what relative-position attention does on purpose (a skew), but here the
cropped block goes to the GRU as axes, and nothing reads it back."""

import torch
from torch import nn
from variant_work import backward, run


class Decoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.emb = nn.Embedding(40, 10)
        self.gru = nn.GRU(10, 16)  # time-major
        self.out = nn.Linear(16, 40)

    def forward(self, tokens):  # (batch, time)
        emb = self.emb(tokens)
        batch, time = tokens.shape
        if self.fixed:
            steps = emb.transpose(0, 1)[:-1]
        else:
            steps = emb.view(time, batch, -1)[:-1]  # culprit
        out, _ = self.gru(steps)
        return self.out(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = Decoder(fixed)
    return model, backward(model, torch.randint(0, 40, (3, 8)))


if __name__ == "__main__":
    run(make)
