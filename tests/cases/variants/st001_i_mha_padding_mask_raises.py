"""ST001 variant (https://github.com/pytorch/pytorch/issues/122959): ``nn.MultiheadAttention``
without ``batch_first`` on batch-first (batch, seq, embed) inputs, with a key padding
mask built from the (batch, seq) token ids. PyTorch raises ``Expected key_padded_mask.
shape[0] to be 12, but got 4`` with no word of the layout; the commenter's fix was
"I forgot to set batch_first=True"."""

import sys

import torch
import torch.nn.functional as F
from torch import nn

PAD, VOCAB, EMBED = 0, 60, 32


class AttentionPooling(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=PAD)
        self.mha = nn.MultiheadAttention(EMBED, 4, batch_first=fixed)
        self.out = nn.Linear(EMBED, 5)

    def forward(self, ids):
        x = self.embed(ids)
        pad = ids == PAD
        ctx, _ = self.mha(x, x, x, key_padding_mask=pad)  # culprit
        ctx = ctx.masked_fill(pad.unsqueeze(-1), 0.0)
        return self.out(ctx.sum(1) / (~pad).sum(1, keepdim=True))


def make(fixed=False):
    torch.manual_seed(0)
    model = AttentionPooling(fixed)

    def work():
        ids = torch.randint(1, VOCAB, (4, 12))
        ids[2:, 9:] = PAD
        loss = F.cross_entropy(model(ids), torch.randint(0, 5, (4,)))
        loss.backward()
        print(f"loss {loss.item():.3f}")

    return model, work


if __name__ == "__main__":
    make("--fixed" in sys.argv)[1]()
