"""ST006 variant (known miss (a), the loud form): a bidirectional LSTM whose head was sized
for both directions, Linear(2 * hidden, ...), but reads ``h_n[-1]`` (one direction,
hidden wide): PyTorch raises "mat1 and mat2 shapes cannot be multiplied (8x16 and 32x5)".
The note must say h_n[-1] is one direction of the last layer. Fix:
``torch.cat((h_n[-2], h_n[-1]), dim=1)``."""

import torch
from torch import nn
from variant_work import run

HIDDEN = 16


class IntentModel(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.lstm = nn.LSTM(24, HIDDEN, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(2 * HIDDEN, 5)

    def forward(self, x):
        _, (h_n, c_n) = self.lstm(x)
        if self.fixed:
            feats = torch.cat((h_n[-2], h_n[-1]), dim=1)
        else:
            feats = h_n[-1]  # culprit
        return self.classifier(feats)


def make(fixed=False):
    torch.manual_seed(0)
    model = IntentModel(fixed)
    x, y = torch.randn(8, 13, 24), torch.randint(0, 5, (8,))

    def work():
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    run(make)
