"""ST015 variant: a bidirectional LSTM given one (2, batch, hidden) tensor, so PyTorch
unpacks it along dim 0 into a (batch, hidden) "h_0" and "c_0"."""

import torch
from torch import nn
from variant_work import forward, run


class SentenceEncoder(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(50, 10)
        self.lstm = nn.LSTM(10, 7, bidirectional=True, batch_first=True)

    def forward(self, tokens):
        state = torch.zeros(2, tokens.size(0), 7)
        if self.fixed:
            state = (state, state.clone())
        out, _ = self.lstm(self.embed(tokens), state)  # culprit
        return out.mean(1)


def make(fixed=False):
    torch.manual_seed(0)
    model = SentenceEncoder(fixed)

    return model, forward(model, torch.randint(0, 50, (6, 11)))


if __name__ == "__main__":
    run(make)
