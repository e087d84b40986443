"""ST025 variant: a per-sample keep mask (B, L, S) made per head for
``F.scaled_dot_product_attention`` as ``keep.repeat(H, 1, 1).view(B, H, L, S)``: repeat
copies the whole batch head-major, and the view reads dim 0 as the batch, so sample b is
masked with the masks of other samples. Heads == batch == 4: no size tells. The fix:
``keep.repeat_interleave(H, dim=0)`` before the view (or ``keep[:, None]``)."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class MaskedSDPA(nn.Module):
    def __init__(self, fixed=False, width=32, heads=4):
        super().__init__()
        self.h, self.d, self.fixed = heads, width // heads, fixed
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, keep):  # x (B, L, E); keep (B, L, S) bool, True = attend
        b, length, e = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
        if self.fixed:
            mask = keep.repeat_interleave(self.h, dim=0).view(b, self.h, length, length)
        else:
            mask = keep.repeat(self.h, 1, 1).view(b, self.h, length, length)  # culprit
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, L, D)
        return self.proj(out.transpose(1, 2).reshape(b, length, e))


def make(fixed=False):
    torch.manual_seed(0)
    model = MaskedSDPA(fixed)
    lengths = torch.tensor([6, 3, 5, 1])
    keep = (torch.arange(6)[None, None, :] < lengths[:, None, None]).expand(4, 6, 6)
    return model, backward(model, torch.randn(4, 6, 32), keep)


if __name__ == "__main__":
    run(make)
