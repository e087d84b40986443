"""ST002 variant: a small attention splits its heads with einops, ``"b t (h d) -> (b h) t d"``,
so the merged dim is batch-major; after attention it merges them back with
``"(h b) t d -> b t (h d)"``, reading that dim heads-major: every sample is rebuilt from other
samples' heads. rearrange runs the reshape inside einops; the finding is at the user's line and
its fix is in the pattern: ``"(b h) t d -> b t (h d)"``."""

import torch
from einops import rearrange
from torch import nn
from variant_work import backward, run

D, HEADS, BATCH, T = 32, 4, 6, 10


class Attention(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed, self.h = fixed, HEADS
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)

    def forward(self, x):
        q, k, v = (rearrange(t, "b t (h d) -> (b h) t d", h=self.h) for t in self.qkv(x).chunk(3, dim=-1))
        y = torch.softmax(q @ k.transpose(1, 2) / (D // self.h) ** 0.5, dim=-1) @ v
        if self.fixed:
            y = rearrange(y, "(b h) t d -> b t (h d)", h=self.h)
        else:
            y = rearrange(y, "(h b) t d -> b t (h d)", h=self.h)  # culprit
        return self.out(y)


def make(fixed=False):
    torch.manual_seed(0)
    model = Attention(fixed)
    return model, backward(model, torch.randn(BATCH, T, D))


if __name__ == "__main__":
    run(make)
