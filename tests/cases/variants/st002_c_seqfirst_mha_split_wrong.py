"""ST002 variant: nn.MultiheadAttention-style seq-first heads: (T, B, E) viewed as
(T, B * H, D) and transposed to (B * H, T, D); after attention the result is split as
``view(H, B, T, D)`` (head-major) although the merge was batch-major."""

import torch
import torch.nn.functional as F
from torch import nn
from variant_work import backward, run


class SeqFirstMHA(nn.Module):
    def __init__(self, embed=12, heads=3, fixed=False):
        super().__init__()
        self.h, self.d, self.fixed = heads, embed // heads, fixed
        self.in_proj = nn.Linear(embed, 3 * embed)
        self.out_proj = nn.Linear(embed, embed)

    def forward(self, x):  # (T, B, E)
        T, B, E = x.shape
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q, k, v = (t.contiguous().view(T, B * self.h, self.d).transpose(0, 1) for t in (q, k, v))
        attn = torch.bmm(F.softmax(torch.bmm(q, k.transpose(1, 2)) / self.d ** 0.5, -1), v)  # (B*H, T, D)
        if self.fixed:
            attn = attn.view(B, self.h, T, self.d)
            attn = attn.permute(2, 0, 1, 3).reshape(T, B, E)
        else:
            attn = attn.view(self.h, B, T, self.d)  # culprit
            attn = attn.permute(2, 1, 0, 3).reshape(T, B, E)
        return self.out_proj(attn)


def make(fixed=False):
    torch.manual_seed(0)
    model = SeqFirstMHA(fixed=fixed)

    return model, backward(model, torch.randn(6, 2, 12))


if __name__ == "__main__":
    run(make)
