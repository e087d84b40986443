"""ST012 variant (https://github.com/reczoo/FuxiCTR/issues/30): an AutoInt-style
interacting layer over the field embeddings (batch, fields, heads * head_dim) splits
its heads with ``query.view(batch_size * self.num_heads, -1, self.head_dim)``, no
transpose. A view keeps memory order, so the "heads" rows are (sample, field) pairs and
each row's positions are head slices of one field: attention then runs across the head
slices of one field instead of across fields. Here 4 fields and 4 heads, so every size
is what the names say and nothing raises. Fix (the report's):
``query.view(batch_size, -1, heads, head_dim).transpose(1, 2)`` and the inverse after."""

import torch
from torch import nn
from variant_work import backward, run

FIELDS, HEADS, HEAD_DIM = 4, 4, 3


class InteractingLayer(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.num_heads, self.head_dim = HEADS, HEAD_DIM
        embed = HEADS * HEAD_DIM
        self.W_q, self.W_k, self.W_v = (nn.Linear(embed, embed, bias=False) for _ in range(3))
        self.head = nn.Linear(FIELDS * embed, 1)

    def split(self, x, batch_size):
        if self.fixed:
            return x.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2).reshape(
                batch_size * self.num_heads, -1, self.head_dim)
        return x.view(batch_size * self.num_heads, -1, self.head_dim)  # culprit

    def merge(self, x, batch_size):
        if self.fixed:
            return x.view(batch_size, self.num_heads, -1, self.head_dim).transpose(1, 2).reshape(
                batch_size, -1, self.num_heads * self.head_dim)
        return x.view(batch_size, -1, self.num_heads * self.head_dim)

    def forward(self, fields):  # (batch, fields, embed)
        batch_size = fields.size(0)
        query = self.split(self.W_q(fields), batch_size)
        key = self.split(self.W_k(fields), batch_size)
        value = self.split(self.W_v(fields), batch_size)
        scores = torch.softmax(torch.bmm(query, key.transpose(1, 2)) / self.head_dim ** 0.5, dim=-1)
        out = self.merge(torch.bmm(scores, value), batch_size)
        return self.head(torch.relu(out + fields).flatten(1))


def make(fixed=False):
    torch.manual_seed(0)
    model = InteractingLayer(fixed)
    return model, backward(model, torch.randn(5, FIELDS, HEADS * HEAD_DIM))


if __name__ == "__main__":
    run(make)
