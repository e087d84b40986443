"""ST006 variant: a batch_first bidirectional LSTM summarised by ``out[:, -1]``: the
backward half there has read only the last token."""

import torch
from torch import nn
from variant_work import forward, run


class Sentiment(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(40, 8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(12, 1)

    def forward(self, tokens):
        out, (h_n, _) = self.lstm(self.embed(tokens))
        if self.fixed:
            summary = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            summary = out[:, -1]  # culprit
        return self.fc(summary)


def make(fixed=False):
    torch.manual_seed(0)
    model = Sentiment(fixed)

    return model, forward(model, torch.randint(0, 40, (4, 9)))


if __name__ == "__main__":
    run(make)
