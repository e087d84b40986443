"""ST012 variant (Chinese-Text-Classification-Pytorch issue #53,
https://github.com/649453932/Chinese-Text-Classification-Pytorch/issues/53): a
hand-written multi-head attention splits its projections with
``Q.view(batch_size * num_head, -1, dim_head)``. Memory holds (batch, positions,
heads * dim_head): the view folds positions into the "heads" rows, so each head
attends over a mix of positions and feature slices. Diagnosis: a view that cuts
across positions and heads. Fix: ``Q.view(batch, L, H, D).transpose(1, 2)
.reshape(batch * H, L, D)`` (and the same order when the heads are merged back)."""

import sys

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, fixed=False, dim_model=8, num_head=2):
        super().__init__()
        self.fixed = fixed
        self.num_head, self.dim_head = num_head, dim_model // num_head
        self.fc_Q = nn.Linear(dim_model, dim_model)
        self.fc_K = nn.Linear(dim_model, dim_model)
        self.fc_V = nn.Linear(dim_model, dim_model)
        self.fc = nn.Linear(dim_model, dim_model)

    def split(self, t):  # (batch, L, dim_model) -> (batch * heads, L, dim_head)
        b, length, _ = t.shape
        if self.fixed:
            return t.view(b, length, self.num_head, self.dim_head).transpose(1, 2).reshape(-1, length, self.dim_head)
        return t.view(b * self.num_head, -1, self.dim_head)  # culprit

    def forward(self, x):  # (batch, L, dim_model)
        b, length, _ = x.shape
        q, k, v = self.split(self.fc_Q(x)), self.split(self.fc_K(x)), self.split(self.fc_V(x))
        attention = torch.softmax(q @ k.transpose(1, 2) * self.dim_head**-0.5, dim=-1)
        context = (attention @ v).view(b, self.num_head, length, self.dim_head).transpose(1, 2)
        return self.fc(context.reshape(b, length, -1)) + x


def make(fixed=False):
    torch.manual_seed(0)
    model = MultiHeadAttention(fixed)

    def work():
        out = model(torch.randn(3, 5, 8))
        out.pow(2).mean().backward()
        print(tuple(out.shape))

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
