"""Models for issue 18's graph and loop checks: the shapes of real models
(blocks folded in a ModuleList, nn.Transformer, a GPT-2-like block) built by
hand, and pytorch/examples' time_sequence_prediction."""

from __future__ import annotations

import torch
from torch import nn

from demos.time_sequence_prediction import Sequence as TimeSequence

__all__ = ["GPT2LikeBlock", "Residual", "ResidualBlocks", "TimeSequence", "TinyGPT2", "nn_transformer"]


class Residual(nn.Module):
    """The smallest block whose siblings fold (``a…b ×2``): ``b(a(x)) + x``."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.a = nn.Linear(width, width)
        self.b = nn.Linear(width, width)

    def forward(self, x):
        return self.b(self.a(x)) + x


class ResidualBlocks(nn.Module):
    """A ModuleList of two ``Residual`` blocks: two folds, one inside the other."""

    def __init__(self, blocks: int = 2, width: int = 8) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Residual(width) for _ in range(blocks))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class GPT2LikeBlock(nn.Module):
    """GPT-2's attention block as Hugging Face writes it: one ``c_attn`` split
    into q, k, v, a causal mask built from ``arange``, ``c_proj`` after."""

    def __init__(self, width: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)

    def forward(self, hidden):
        batch, length, width = hidden.shape
        q, k, v = self.c_attn(self.ln_1(hidden)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        positions = torch.arange(length, device=hidden.device)
        causal = positions[None, :] <= positions[:, None]
        scores = (q @ k.transpose(-1, -2)).masked_fill(~causal, float("-inf"))
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, width)
        hidden = hidden + self.c_proj(attended)
        return hidden + self.mlp_proj(self.c_fc(self.ln_2(hidden)).relu())


class TinyGPT2(nn.Module):
    """Token and position embeddings, ``GPT2LikeBlock``s, a head: ``input_ids`` in."""

    def __init__(self, vocab: int = 50, width: int = 16, layers: int = 2) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(32, width)
        self.h = nn.ModuleList(GPT2LikeBlock(width) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, input_ids):
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        hidden = self.wte(input_ids) + self.wpe(position_ids)
        for block in self.h:
            hidden = block(hidden)
        return self.ln_f(hidden)


def nn_transformer() -> nn.Transformer:
    """PyTorch's own encoder-decoder, small, in training mode (no fused path)."""
    torch.manual_seed(0)
    return nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                          dim_feedforward=32, dropout=0.0, batch_first=True)
