"""ST026 attention-over-heads: the heads of a causal self-attention not transposed.

A nanoGPT-style block splits its q, k and v into heads with
`view(B, T, n_head, head_dim)` and hands them to `F.scaled_dot_product_attention`
as they are. PyTorch takes (B, heads, T, head_dim) and attends over dim -2: here
that is the heads, so each token attends among its own heads, causally, and no
token sees another. The output has the input's shape, the reshape that merges the
heads fits, and nothing raises.

    shapetrace run demos/bugs/st026_attention_over_heads.py
"""

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd=32, n_head=4):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head)
        k = k.view(B, T, self.n_head, C // self.n_head)
        v = v.view(B, T, self.n_head, C // self.n_head)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # bug: q, k, v need .transpose(1, 2)
        return self.c_proj(y.reshape(B, T, C))


def main():
    torch.manual_seed(0)
    model = CausalSelfAttention()
    print(model(torch.randn(2, 8, 32)).shape)


if __name__ == "__main__":
    main()
