"""ST028 mask-on-queries: a BERT-style padding mask extended along the queries.

The (B, T) attention mask is made 4-D for the (B, heads, T, T) scores with
`attention_mask[:, None, :, None]`, (B, 1, T, 1), where `[:, None, None, :]`,
(B, 1, 1, T), was meant. Added to the scores, it shifts each query's row by one
constant, which the softmax over the keys cancels: the padding is attended as if
there were no mask. Self-attention has as many queries as keys, so nothing raises.

    shapetrace run demos/bugs/st028_mask_on_queries.py
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, hidden=32, heads=4):
        super().__init__()
        self.heads, self.head_size = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, x):
        return x.view(*x.shape[:2], self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, hidden, attention_mask):
        extended = attention_mask[:, None, :, None]  # bug: along the queries; use attention_mask[:, None, None, :]
        extended = (1.0 - extended.float()) * -10000.0
        q, k, v = self.split(self.query(hidden)), self.split(self.key(hidden)), self.split(self.value(hidden))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size) + extended
        context = F.softmax(scores, dim=-1) @ v
        return context.permute(0, 2, 1, 3).reshape(hidden.shape)


def main():
    torch.manual_seed(0)
    model = SelfAttention()
    attention_mask = torch.arange(6)[None, :] < torch.tensor([6, 3, 5, 2])[:, None]
    print(model(torch.randn(4, 6, 32), attention_mask).shape)


if __name__ == "__main__":
    main()
