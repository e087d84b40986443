"""ST012 variant (https://github.com/TobiasLee/Chinese-Hip-pop-Generation/pull/8, "it is a
bug": the inputs were transposed time-major for an RNN encoder, which was later
replaced by a fully connected layer, and the transpose stayed): the embedded tokens
(batch, time, emb) are transposed to (time, batch, emb) and flattened per sample with
``reshape(batch, -1)`` for the Linear. On the transposed tensor the reshape copies in
(time, batch) order, so each "sample" row holds pieces of several samples. Nothing
raises. Fix: drop the transpose (or ``transpose(0, 1)`` back before the reshape)."""

import torch
from torch import nn
from variant_work import backward, run

VOCAB, EMB, STEPS = 50, 6, 7


class Encoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(VOCAB, EMB)
        self.fc = nn.Linear(STEPS * EMB, 10)

    def forward(self, tokens):  # (batch, time)
        batch = tokens.size(0)
        x = self.embed(tokens)
        if not self.fixed:
            x = x.transpose(0, 1)  # time-major, as the old RNN encoder wanted
        return torch.tanh(self.fc(x.reshape(batch, -1)))  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = Encoder(fixed)
    return model, backward(model, torch.randint(0, VOCAB, (4, STEPS)))


if __name__ == "__main__":
    run(make)
