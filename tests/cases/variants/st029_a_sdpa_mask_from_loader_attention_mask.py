"""ST029 variant: a text regressor's training loop takes ``input_ids`` and ``attention_mask`` from
its DataLoader, as a tokenizer's batch gives them, and makes the mask for
``F.scaled_dot_product_attention`` with ``attention_mask.bool()[:, None, :]``, (B, 1, S):
broadcast against the (B, heads, L, S) scores it reads as (1, B, 1, S), so sample b's padding masks
head b of every sample. Four samples, four heads: nothing raises. The fix:
``attention_mask.bool()[:, None, None, :]``, (B, 1, 1, S)."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


class Regressor(nn.Module):
    def __init__(self, vocab=60, hidden=24, heads=4):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, input_ids, mask):
        b, t = input_ids.shape
        q, k, v = (x.view(b, t, self.heads, -1).transpose(1, 2) for x in self.qkv(self.embed(input_ids)).chunk(3, -1))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.head(context.transpose(1, 2).reshape(b, t, -1).mean(1)).squeeze(-1)


def make(fixed=False):
    torch.manual_seed(0)
    lengths = torch.randint(3, 11, (16,))
    attention_mask = (torch.arange(10)[None, :] < lengths[:, None]).long()
    input_ids = torch.randint(1, 60, (16, 10)) * attention_mask
    loader = DataLoader(TensorDataset(input_ids, attention_mask, lengths.float()), batch_size=4)
    model = Regressor()

    def loss_of(ids, attention, target):
        if fixed:
            mask = attention.bool()[:, None, None, :]
        else:
            mask = attention.bool()[:, None, :]  # culprit
        return F.mse_loss(model(ids, mask), target)

    return model, epoch(model, loader, loss_of)

if __name__ == "__main__":
    run(make)
