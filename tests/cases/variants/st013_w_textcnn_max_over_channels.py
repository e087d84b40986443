"""ST013 variant: a text CNN's max-over-time pooling taken over the channels. The
Conv1d output is (batch, channels, length); ``feats.max(dim=1)[0]`` keeps the
largest channel at every position, (batch, length), where the max over the
positions, ``feats.max(dim=2)[0]`` (batch, channels), was meant. Sentences padded to
64 tokens and 64 filters: the classifier's Linear(64, 4) takes it silently."""

import torch
from torch import nn
from variant_work import forward, run


class TextCNN(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embed = nn.Embedding(500, 24)
        self.conv = nn.Conv1d(24, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64, 4)

    def forward(self, tokens):  # (batch, 64 tokens)
        feats = torch.relu(self.conv(self.embed(tokens).transpose(1, 2)))
        if self.fixed:
            pooled = feats.max(dim=2)[0]
        else:
            pooled = feats.max(dim=1)[0]  # culprit
        return self.fc(pooled)


def make(fixed=False):
    torch.manual_seed(0)
    model = TextCNN(fixed)
    return model, forward(model, torch.randint(0, 500, (4, 64)))


if __name__ == "__main__":
    run(make)
