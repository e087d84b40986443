"""ST018 variant: a character language model with a GRU returns
``F.log_softmax(self.fc(out), dim=-1)``, (batch, time, vocab), and the step calls
``F.nll_loss(log_probs, targets)`` on (batch, time) targets; PyTorch raises about the
target size. Fix: ``log_probs.permute(0, 2, 1)``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 12)
        self.gru = nn.GRU(12, 20, batch_first=True)
        self.fc = nn.Linear(20, 30)

    def forward(self, x):
        out, _ = self.gru(self.emb(x))
        return F.log_softmax(self.fc(out), dim=-1)


def make(fixed=False):
    torch.manual_seed(0)
    model = CharLM()

    def work():
        x, y = torch.randint(0, 30, (3, 11)), torch.randint(0, 30, (3, 11))
        log_probs = model(x)
        if fixed:
            log_probs = log_probs.permute(0, 2, 1)
        step(F.nll_loss(log_probs, y))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
