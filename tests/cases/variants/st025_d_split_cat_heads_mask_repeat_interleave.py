"""ST025 variant, the other direction: hand-written attention that folds its heads into the
batch head-major, ``torch.cat(q.split(d, dim=-1), dim=0)`` (row h * B + b, as in many ports of
TensorFlow transformers), masks its (H * B, L, L) scores with a per-sample padding mask copied
batch-major, ``pad_mask.repeat_interleave(heads, dim=0)`` (row b * H + h): each sample's heads get
other samples' masks. Heads == batch == 4: nothing raises. The fix: ``pad_mask.repeat(heads, 1, 1)``,
the whole batch once per head."""

import torch
from torch import nn
from variant_work import forward, run


class SplitCatAttention(nn.Module):
    def __init__(self, fixed=False, width=32, heads=4):
        super().__init__()
        self.fixed, self.heads, self.d = fixed, heads, width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, pad):  # x (B, L, E); pad (B, L) True = padding
        b, n, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = torch.cat(q.split(self.d, dim=-1), dim=0)  # (heads * B, L, d)
        k = torch.cat(k.split(self.d, dim=-1), dim=0)
        v = torch.cat(v.split(self.d, dim=-1), dim=0)
        scores = torch.bmm(q, k.transpose(1, 2)) / self.d**0.5
        pad_mask = pad.unsqueeze(1).expand(b, n, n)
        if self.fixed:
            pad_mask = pad_mask.repeat(self.heads, 1, 1)
        else:
            pad_mask = pad_mask.repeat_interleave(self.heads, dim=0)  # culprit
        weights = torch.softmax(scores.masked_fill(pad_mask, float("-inf")), dim=-1)
        out = torch.cat(torch.bmm(weights, v).split(b, dim=0), dim=-1)  # back to (B, L, E)
        return self.proj(out)


def make(fixed=False):
    torch.manual_seed(0)
    model = SplitCatAttention(fixed)
    pad = torch.arange(6)[None, :] >= torch.tensor([6, 3, 5, 2])[:, None]
    return model, forward(model, torch.randn(4, 6, 32), pad)


if __name__ == "__main__":
    run(make)
