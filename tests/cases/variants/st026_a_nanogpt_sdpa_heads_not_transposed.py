"""ST026 variant: a nanoGPT-style character model whose causal self-attention splits q, k, v
into heads with ``view(B, T, n_head, head_size)`` and hands them to
``F.scaled_dot_product_attention`` without ``.transpose(1, 2)``. SDPA takes (B, heads, T, d)
and attends over dim -2, here the 6 heads of each token (causally): no token sees another.
The output keeps the shape, ``.contiguous().view(B, T, C)`` merges it, nothing raises.
The fix: transpose q, k, v to (B, n_head, T, head_size), and the output back."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import run, step


class CausalSelfAttention(nn.Module):
    def __init__(self, fixed=False, n_embd=48, n_head=6):
        super().__init__()
        self.fixed, self.n_head = fixed, n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head)
        k = k.view(B, T, self.n_head, C // self.n_head)
        v = v.view(B, T, self.n_head, C // self.n_head)
        if self.fixed:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
            y = y.transpose(1, 2)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # culprit
        return self.c_proj(y.contiguous().view(B, T, C))


class CharGPT(nn.Module):
    def __init__(self, fixed=False, vocab=65, block=16, n_embd=48):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block, n_embd)
        self.ln_1, self.ln_f = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(fixed, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        x = x + self.attn(self.ln_1(x))
        return self.lm_head(self.ln_f(x))


def make(fixed=False):
    torch.manual_seed(0)
    model = CharGPT(fixed)
    text = torch.randint(0, 65, (200,))
    x = torch.stack([text[s:s + 16] for s in range(0, 128, 16)])
    y = torch.stack([text[s + 1:s + 17] for s in range(0, 128, 16)])

    def work():
        logits = model(x)
        step(F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1)))

    return model, work


if __name__ == "__main__":
    run(make)
