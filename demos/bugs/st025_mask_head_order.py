"""ST025 mask-head-order: a padding mask repeated per head in the wrong order.

A small encoder over padded sentences gives `nn.MultiheadAttention` one mask per
(sample, head): the (B, L, S) padding mask made 3-D with `mask.repeat(nhead, 1, 1)`.
That copies the whole batch nhead times (row h * B + b), but PyTorch reads a
(N * num_heads, L, S) attn_mask batch-major (row b * num_heads + h): each sentence is
masked with other sentences' padding. Every shape fits and nothing raises.

    shapetrace run demos/bugs/st025_mask_head_order.py
"""

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, vocab=50, width=16, nhead=4):
        super().__init__()
        self.nhead = nhead
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.attn = nn.MultiheadAttention(width, nhead, batch_first=True)
        self.head = nn.Linear(width, 2)

    def forward(self, tokens):  # (batch, length), 0 = padding
        x = self.embed(tokens)
        padding = (tokens == 0)[:, None, :].expand(-1, tokens.size(1), -1)  # (batch, length, length)
        mask = padding.repeat(self.nhead, 1, 1)  # bug: head-major; use padding.repeat_interleave(self.nhead, dim=0)
        out, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        return self.head(out[:, 0])


def main():
    torch.manual_seed(0)
    model = Encoder()
    tokens = torch.randint(1, 50, (4, 7))
    tokens[1, 4:] = 0
    tokens[3, 2:] = 0
    print(model(tokens).shape)


if __name__ == "__main__":
    main()
