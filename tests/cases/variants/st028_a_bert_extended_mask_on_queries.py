"""ST028 variant: a BERT-style encoder written by hand extends its (B, T) padding mask with
``attention_mask[:, None, :, None]``, (B, 1, T, 1), where ``[:, None, None, :]``, (B, 1, 1, T),
was meant. Added to the (B, heads, T, T) scores it is a constant per query row, which the
softmax over the keys cancels: padded tokens are attended as if there were no mask.
Self-attention, T == S: nothing raises."""

import math

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import forward, run


class BertSelfAttention(nn.Module):
    def __init__(self, fixed=False, hidden_size=48, num_attention_heads=4):
        super().__init__()
        self.fixed = fixed
        self.heads, self.head_size = num_attention_heads, hidden_size // num_attention_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)

    def transpose_for_scores(self, x):
        return x.view((*x.size()[:-1], self.heads, self.head_size)).permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask):
        if self.fixed:
            extended = attention_mask[:, None, None, :]
        else:
            extended = attention_mask[:, None, :, None]  # culprit
        extended = (1.0 - extended.float()) * -10000.0
        q = self.transpose_for_scores(self.query(hidden_states))
        k = self.transpose_for_scores(self.key(hidden_states))
        v = self.transpose_for_scores(self.value(hidden_states))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + extended
        context = torch.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return context.view((*context.size()[:-2], self.heads * self.head_size))


def make(fixed=False):
    torch.manual_seed(0)
    model = BertSelfAttention(fixed)
    attention_mask = torch.arange(10)[None, :] < torch.tensor([10, 4, 7, 2, 9])[:, None]
    return model, forward(model, torch.randn(5, 10, 48), attention_mask)


if __name__ == "__main__":
    run(make)
