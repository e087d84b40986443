"""ST005 variant: the loss picked from a table of functions built at import time
(``LOSSES = {"l1": F.l1_loss, ...}``, chosen by a config string): a (B,) score
against a (B, 1) label column, broadcast to (B, B)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step

LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss, "huber": F.huber_loss}
CONFIG = {"loss": "l1", "hidden": 16}


class Scorer(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.body(x).flatten()


def make(fixed=False):
    torch.manual_seed(0)
    model = Scorer(CONFIG["hidden"])
    criterion = LOSSES[CONFIG["loss"]]

    def work():
        x, labels = torch.randn(9, 3), torch.randn(9, 1)
        if fixed:
            labels = labels.squeeze(1)
        step(criterion(model(x), labels))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
