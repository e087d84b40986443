"""ST021 softmax-not-summed-axis: multi-head attention whose softmax normalises the heads.

The attention was first written for one head, with (batch, queries, keys) scores
and softmax(dim=2); made multi-head, the scores are (batch, heads, queries, keys),
and a softmax left at dim=1 normalises over the 4 heads. With 4 heads and 4
positions nothing raises; `weights @ v` sums each query's weights over the keys,
and they no longer sum to 1 there.

    shapetrace run demos/bugs/st021_softmax_not_summed_axis.py
"""

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model=32, heads=4):
        super().__init__()
        self.heads, self.d_head = heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / self.d_head**0.5  # (batch, heads, queries, keys)
        weights = torch.softmax(scores, dim=1)  # bug: over the heads, not the keys
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


def main():
    torch.manual_seed(0)
    model = SelfAttention()
    x = torch.randn(2, 4, 32)
    model(x).pow(2).mean().backward()


if __name__ == "__main__":
    main()
