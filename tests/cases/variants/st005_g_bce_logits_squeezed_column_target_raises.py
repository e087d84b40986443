"""ST005 variant (https://github.com/deepset-ai/FARM/issues/229, fixed in pull request
230 there: "the logits were squeezed and therefore didn't match the labels"): a text
classification head returns its logits squeezed to (batch,), the labels come from the
dataset as a (batch, 1) column. With ``nn.BCEWithLogitsLoss`` the mismatch does not
broadcast silently as MSE does (the report's warning): PyTorch raises "Target size
(torch.Size([8, 1])) must be the same as input size (torch.Size([8]))". Diagnosis: the
prediction and its target differ by a size-1 dim. Fix: give the target the prediction's
shape (``labels.squeeze(1)``), or keep the logits as (batch, 1)."""

import torch
from torch import nn
from variant_work import run, step


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.EmbeddingBag(60, 16), nn.ReLU())
        self.classifier = nn.Linear(16, 1)

    def forward(self, tokens):
        return self.classifier(self.encoder(tokens)).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    model = Head()
    tokens, labels = torch.randint(0, 60, (8, 12)), torch.randint(0, 2, (8, 1)).float()
    criterion = nn.BCEWithLogitsLoss()

    def work():
        if fixed:
            step(criterion(model(tokens), labels.squeeze(1)))
        else:
            step(criterion(model(tokens), labels))  # culprit

    return model, work


if __name__ == "__main__":
    run(make)
