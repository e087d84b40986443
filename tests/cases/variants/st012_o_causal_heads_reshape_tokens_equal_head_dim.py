"""ST012 variant: a nanoGPT-style causal self-attention splits its heads with one reshape,
``t.reshape(B, self.n_head, T, C // self.n_head)``, where ``t.view(B, T, self.n_head, C //
self.n_head).transpose(1, 2)`` was meant: memory holds (B, T, C), so "head 0" holds tokens cut
into head-sized pieces, and the causal mask lets later tokens in. Tokens == head size == 8 (32
wide, 4 heads), so the sizes cannot tell T from the head size: the names the forward gave them
(``B, T, C = x.size()``) do. The fix: ``t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)``."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class CausalSelfAttention(nn.Module):
    def __init__(self, fixed=False, n_embd=32, n_head=4):
        super().__init__()
        self.fixed, self.n_head, self.n_embd = fixed, n_head, n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        if self.fixed:
            q, k, v = [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]
        else:
            q, k, v = [t.reshape(B, self.n_head, T, C // self.n_head) for t in (q, k, v)]  # culprit
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def make(fixed=False):
    torch.manual_seed(0)
    model = CausalSelfAttention(fixed)
    return model, backward(model, torch.randn(3, 8, 32))


if __name__ == "__main__":
    run(make)
