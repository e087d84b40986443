"""ST013 variant: mean pooling over the sequence written over the wrong dim. A
batch-first LSTM's output is (batch, time, hidden); ``out.mean(dim=-1)`` averages
the 32 hidden units at every step, (batch, time), where the mean over the steps,
``out.mean(dim=1)`` (batch, hidden), was meant. Reviews are padded to 32 tokens and
hidden_size is 32, so the sentiment head's Linear(32, 2) takes it silently."""

import torch
from torch import nn
from variant_work import forward, run


class MeanPoolSentiment(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(100, 16)
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, tokens):  # (batch, 32 tokens)
        out, _ = self.lstm(self.embed(tokens))
        if self.fixed:
            pooled = out.mean(dim=1)
        else:
            pooled = out.mean(dim=-1)  # culprit
        return self.head(pooled)


def make(fixed=False):
    torch.manual_seed(0)
    model = MeanPoolSentiment(fixed)
    return model, forward(model, torch.randint(0, 100, (6, 32)))


if __name__ == "__main__":
    run(make)
