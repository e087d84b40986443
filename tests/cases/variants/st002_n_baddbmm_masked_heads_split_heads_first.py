"""ST002 variant (the class of case09, other spelling): heads folded into the batch as
(B * H, T, D), batch-major, scored with their mask in one ``torch.baddbmm`` (Megatron's and
BLOOM's spelling), then split back head-first with ``ctx.reshape(H, B, T, D)``: the sizes
fit, samples and heads mix."""

import torch
from torch import nn
from variant_work import backward, run


class MaskedAttention(nn.Module):
    def __init__(self, dim=30, heads=3, fixed=False):
        super().__init__()
        self.heads, self.size, self.fixed = heads, dim // heads, fixed
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x, mask):  # x (B, T, dim), mask (B, T, T) additive
        B, T, _ = x.shape
        q, k, v = (
            t.reshape(B, T, self.heads, self.size).transpose(1, 2).reshape(B * self.heads, T, self.size)
            for t in self.to_qkv(x).chunk(3, dim=-1)
        )
        bias = mask.repeat_interleave(self.heads, dim=0)  # (B * H, T, T), batch-major
        att = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=self.size**-0.5).softmax(-1)
        ctx = torch.bmm(att, v)  # (B * H, T, D)
        if self.fixed:
            ctx = ctx.reshape(B, self.heads, T, self.size)
        else:
            ctx = ctx.reshape(self.heads, B, T, self.size)  # culprit
        return self.to_out(ctx.transpose(1, 2).reshape(B, T, self.heads * self.size))


def make(fixed=False):
    torch.manual_seed(0)
    model = MaskedAttention(fixed=fixed)
    mask = torch.zeros(5, 8, 8)
    mask[:, :, 6:] = -1e4
    return model, backward(model, torch.randn(5, 8, 30), mask)


if __name__ == "__main__":
    run(make)
