"""ST029 mask-axis-misaligned: a per-sample padding mask that broadcasting lays along the heads.

The training loop turns the batch's padding into a mask for
`F.scaled_dot_product_attention` with `(tokens != PAD)[:, None, :]`, (B, 1, S), where
(B, 1, 1, S) was meant. Broadcasting aligns the mask with the (B, heads, L, S) scores
from the right, so it reads as (1, B, 1, S): sample b's padding masks head b of every
sample. With as many samples as heads (4), nothing raises.

    shapetrace run demos/bugs/st029_mask_on_heads.py
"""

import torch
import torch.nn.functional as F
from torch import nn

PAD = 0


class Encoder(nn.Module):
    def __init__(self, vocab=30, hidden=32, heads=4):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, hidden, padding_idx=PAD)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, tokens, attn_mask):
        b, t = tokens.shape
        q, k, v = (x.view(b, t, self.heads, -1).transpose(1, 2) for x in self.qkv(self.embed(tokens)).chunk(3, -1))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(context.transpose(1, 2).reshape(b, t, -1).mean(1))


def main():
    torch.manual_seed(0)
    model = Encoder()
    tokens = torch.randint(1, 30, (4, 7)) * (torch.arange(7)[None, :] < torch.tensor([7, 3, 5, 2])[:, None])
    attn_mask = (tokens != PAD)[:, None, :]  # bug: along the heads; use (tokens != PAD)[:, None, None, :]
    print(model(tokens, attn_mask).shape)


if __name__ == "__main__":
    main()
