"""ST012 variant (https://github.com/jsbaan/transformer-from-scratch/pull/6, fixing issue
4 there): a from-scratch multi-head attention computes ``softmax(q @ k^T) @ v`` as
(batch, heads, seq_len, head_dim) and concatenates the heads with
``values.reshape(batch_size, seq_len, num_heads * head_dim)``, the permute(0, 2, 1, 3)
missing. Row-major reshape puts chunks of several positions of one head into each
token's vector. With 4 heads and sequences of 4 tokens every size matches, nothing
raises, and (as the PR notes) an easy copy task still trains. Fix:
``values.permute(0, 2, 1, 3).reshape(batch_size, seq_len, num_heads * head_dim)``."""

import torch
from torch import nn
from variant_work import backward, run

EMBED, HEADS = 16, 4


class MultiHeadAttention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.num_heads, self.head_dim = HEADS, EMBED // HEADS
        self.qkv = nn.Linear(EMBED, 3 * EMBED)
        self.o_proj = nn.Linear(EMBED, EMBED)

    def forward(self, x):  # (batch, seq_len, embed)
        batch_size, seq_len, _ = x.shape
        qkv = self.qkv(x).reshape(batch_size, seq_len, self.num_heads, 3 * self.head_dim)
        q, k, v = qkv.permute(0, 2, 1, 3).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(-2, -1) / self.head_dim ** 0.5, dim=-1)
        values = attn @ v  # (batch, heads, seq_len, head_dim)
        if self.fixed:
            values = values.permute(0, 2, 1, 3)
            values = values.reshape(batch_size, seq_len, self.num_heads * self.head_dim)
        else:
            values = values.reshape(batch_size, seq_len, self.num_heads * self.head_dim)  # culprit
        return self.o_proj(values)


def make(fixed=False):
    torch.manual_seed(0)
    model = MultiHeadAttention(fixed)
    return model, backward(model, torch.randn(3, 4, EMBED))


if __name__ == "__main__":
    run(make)
