"""ST012 variant: a seq-first GRU's output (T, B, H) flattened per sample with
``out.view(B, -1)``: each row then holds several samples' steps."""

import torch
from torch import nn
from variant_work import backward, run


class Flattener(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.gru = nn.GRU(4, 6)
        self.fc = nn.Linear(9 * 6, 1)

    def forward(self, x):  # (9 steps, batch, 4)
        out, _ = self.gru(x)
        if self.fixed:
            flat = out.transpose(0, 1).reshape(x.size(1), -1)
        else:
            flat = out.view(x.size(1), -1)  # culprit
        return self.fc(flat)


def make(fixed=False):
    torch.manual_seed(0)
    model = Flattener(fixed)

    return model, backward(model, torch.randn(9, 5, 4))


if __name__ == "__main__":
    run(make)
