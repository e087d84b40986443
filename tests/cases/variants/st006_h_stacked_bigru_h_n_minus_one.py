"""ST006 variant (known miss (a); https://github.com/yunjey/pytorch-tutorial/issues/149 and
https://github.com/pytorch/pytorch/pull/74291 on what h_n holds): a two-layer bidirectional
GRU text classifier summarised by ``h_n[-1]``. h_n is (num_layers * 2, batch, hidden), layer
by layer and in each layer forward then backward, so ``h_n[-1]`` is the LAST LAYER'S BACKWARD
DIRECTION only; the forward half is dropped and the head, sized Linear(hidden, ...), never
complains. Fix: ``torch.cat((h_n[-2], h_n[-1]), dim=1)`` and Linear(2 * hidden, ...)."""

import torch
from torch import nn
from variant_work import run

VOCAB, EMB, HIDDEN, CLASSES = 50, 10, 12, 3


class TopicClassifier(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.gru = nn.GRU(EMB, HIDDEN, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * HIDDEN if fixed else HIDDEN, CLASSES)

    def forward(self, tokens):
        _, h_n = self.gru(self.embedding(tokens))
        if self.fixed:
            return self.fc(torch.cat((h_n[-2], h_n[-1]), dim=1))
        return self.fc(h_n[-1])  # culprit


def make(fixed=False):
    torch.manual_seed(0)
    model = TopicClassifier(fixed)
    x, y = torch.randint(0, VOCAB, (30, 15)), torch.randint(0, CLASSES, (30,))

    def work():
        for i in range(0, 30, 8):
            loss = nn.functional.cross_entropy(model(x[i:i + 8]), y[i:i + 8])
            loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
