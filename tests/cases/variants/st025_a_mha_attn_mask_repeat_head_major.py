"""ST025 variant: an encoder layer over padded sequences gives ``nn.MultiheadAttention``
(batch_first=True) a per-sample causal + padding mask (B, L, S) made 3-D per head with
``mask.repeat(nhead, 1, 1)``: the whole batch copied nhead times, head-major (row
h * B + b), where PyTorch reads a (N * num_heads, L, S) attn_mask batch-major (row
b * num_heads + h). Each sample's heads are masked with other samples' padding; nothing
raises. The fix: ``mask.repeat_interleave(nhead, dim=0)``."""

import torch
from torch import nn
from variant_work import backward, run


class PaddedEncoderLayer(nn.Module):
    def __init__(self, fixed=False, d_model=16, nhead=4):
        super().__init__()
        self.nhead, self.fixed = nhead, fixed
        self.attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.ff = nn.Linear(d_model, d_model)

    def forward(self, x, lengths):  # x (B, L, E), lengths (B,)
        length = x.shape[1]
        pos = torch.arange(length)
        causal = pos[None, :] > pos[:, None]  # (L, S), True = blocked
        padded = pos[None, None, :] >= lengths[:, None, None]  # (B, 1, S)
        mask = causal[None] | padded  # (B, L, S)
        if self.fixed:
            attn_mask = mask.repeat_interleave(self.nhead, dim=0)
        else:
            attn_mask = mask.repeat(self.nhead, 1, 1)  # culprit
        out, _ = self.attn(x, x, x, attn_mask=attn_mask, need_weights=False)
        x = self.norm(x + out)
        return x + self.ff(x)


def make(fixed=False):
    torch.manual_seed(0)
    model = PaddedEncoderLayer(fixed)
    return model, backward(model, torch.randn(3, 6, 16), torch.tensor([6, 2, 4]))


if __name__ == "__main__":
    run(make)
