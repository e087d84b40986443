"""ST001 variant: a word-level LSTM language model trained on batch-first (batch, length)
token windows, the LSTM left at batch_first=False. Each step takes one (32, 21) batch
of windows, feeds ``seq[:, :-1]`` and scores against ``seq[:, 1:]`` with the rows merged
(``logits.view(-1, vocab)``): one pass, no DataLoader, no short batch, and nothing
raises; the LSTM recurs across the 32 windows of a batch.

Report class: a language model fed (batch, seq_len, emb) while nn.LSTM expects
(seq_len, batch, emb) (https://github.com/keitakurita/Practical_NLP_in_PyTorch/issues/9,
https://github.com/yunjey/pytorch-tutorial/issues/73).
Fix: nn.LSTM(..., batch_first=True)."""

import sys

import torch
from torch import nn

VOCAB, EMB, HIDDEN = 50, 16, 24


class WordLM(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN, batch_first=fixed)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens):  # (batch, length)
        out, _ = self.lstm(self.embed(tokens))  # culprit
        return self.head(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = WordLM(fixed)
    corpus = torch.randint(0, VOCAB, (32, 21))

    def work():
        inputs, targets = corpus[:, :-1], corpus[:, 1:].contiguous()
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
