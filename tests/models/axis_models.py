"""Models for the view and axis checks (ST012, ST013, ST014): real architectures
done right, which must stay clean, and small versions of the bugs.

Each function returns ``(model, inputs)`` for one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Example = tuple[nn.Module, tuple[torch.Tensor, ...]]


# ------------------------------------------------------------ done right
class HandMHA(nn.Module):
    """Multi-head self-attention written out, heads split and merged with permutes."""

    def __init__(self, embed: int = 24, heads: int = 4) -> None:
        super().__init__()
        self.h, self.d = heads, embed // heads
        self.qkv = nn.Linear(embed, 3 * embed)
        self.out = nn.Linear(embed, embed)

    def forward(self, x):  # (B, L, E)
        b, length, e = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.view(b, length, self.h, self.d).permute(0, 2, 1, 3) for t in (q, k, v))
        weights = F.softmax(q @ k.transpose(-2, -1) / self.d ** 0.5, dim=-1)
        merged = (weights @ v).transpose(1, 2).reshape(b, length, e)
        return self.out(merged)


def hand_mha() -> Example:
    return HandMHA(), (torch.randn(2, 5, 24),)


class HandMHAMerged(nn.Module):
    """The same with batch and heads merged for bmm, split back batch-major."""

    def __init__(self, embed: int = 24, heads: int = 4) -> None:
        super().__init__()
        self.h, self.d, self.e = heads, embed // heads, embed
        self.qkv = nn.Linear(embed, 3 * embed)

    def forward(self, x):
        b, length, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, length, self.h, self.d).transpose(1, 2).reshape(b * self.h, length, self.d)
                   for t in (q, k, v))
        attn = torch.bmm(F.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1), v)
        return attn.view(b, self.h, length, self.d).transpose(1, 2).contiguous().view(b, length, self.e)


def hand_mha_merged() -> Example:
    return HandMHAMerged(), (torch.randn(2, 5, 24),)


class Conv2Plus1D(nn.Module):
    """A (2+1)D block: 2-d conv over space with time folded into the batch, then 1-d over time."""

    def __init__(self, c_in: int = 3, c_out: int = 8) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.temporal = nn.Conv1d(c_out, c_out, 3, padding=1)

    def forward(self, x):  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = self.spatial(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B*T, C', H, W)
        y = y.view(b, t, -1, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, -1, t)
        y = self.temporal(y)  # (B*H*W, C', T)
        return y.view(b, h, w, -1, t).permute(0, 3, 4, 1, 2)


def conv_2plus1d() -> Example:
    return Conv2Plus1D(), (torch.randn(2, 3, 4, 5, 6),)


def multihead_attention() -> Example:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(24, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x)[0]

    return Wrapper(), (torch.randn(2, 5, 24),)


def transformer() -> Example:
    return (nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32, batch_first=True),
            (torch.randn(2, 7, 16), torch.randn(2, 5, 16)))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block, with a downsampling shortcut, then a head."""

    def __init__(self, c_in: int = 8, c_out: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), nn.BatchNorm2d(c_out))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_out, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)) + self.downsample(x))
        return self.fc(torch.flatten(self.pool(out), 1))


def basic_block() -> Example:
    return BasicBlock(), (torch.randn(3, 8, 12, 12),)


class LanguageModel(nn.Module):
    """An LSTM language model done right: batch-first tokens, a batch_first LSTM,
    the state made from the batch, a token-level loss over (N, C, T)."""

    def __init__(self, vocab: int = 50, width: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, 2, batch_first=True)
        self.fc = nn.Linear(width, vocab)

    def forward(self, tokens, targets):
        h = torch.zeros(2, tokens.size(0), 16)
        out, _ = self.lstm(self.embedding(tokens), (h, torch.zeros_like(h)))
        logits = self.fc(out)
        return F.cross_entropy(logits.transpose(1, 2), targets)


def language_model() -> Example:
    return LanguageModel(), (torch.randint(0, 50, (6, 9)), torch.randint(0, 50, (6, 9)))


class SqueezeExplicit(nn.Module):
    """Global pooling then squeeze with explicit dims: a batch of one keeps its axis."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).squeeze(-1).squeeze(-1))


def squeeze_explicit_batch_of_one() -> Example:
    return SqueezeExplicit(), (torch.randn(1, 3, 8, 8),)


class WindowAttentionLayout(nn.Module):
    """Swin's window partition and reverse, ShuffleNet's channel shuffle and ViT's
    patchify: views that split and merge axes after a permute, all in order."""

    def __init__(self, window: int = 2, patch: int = 2, groups: int = 2) -> None:
        super().__init__()
        self.ws, self.p, self.g = window, patch, groups
        self.mix = nn.Linear(8, 8)

    def forward(self, x):  # (B, H, W, C)
        b, h, w, c = x.shape
        ws = self.ws
        windows = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)
        windows = self.mix(windows)
        x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)
        y = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        y = y.reshape(b, self.g, c // self.g, h, w).transpose(1, 2).reshape(b, c, h, w)  # channel shuffle
        p = self.p
        patches = y.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        return patches


def window_attention_layout() -> Example:
    return WindowAttentionLayout(), (torch.randn(2, 4, 6, 8),)


CORRECT_ARCHITECTURES: dict[str, Callable[[], Example]] = {
    "window_attention_layout": window_attention_layout,
    "hand_mha": hand_mha,
    "hand_mha_merged": hand_mha_merged,
    "conv_2plus1d": conv_2plus1d,
    "multihead_attention": multihead_attention,
    "transformer": transformer,
    "basic_block": basic_block,
    "language_model": language_model,
    "squeeze_explicit_batch_of_one": squeeze_explicit_batch_of_one,
}


# ------------------------------------------------------------ the bugs
class VideoFoldedByView(nn.Module):
    """(B, C, T, H, W).view(B*T, C, H, W): time folded into the batch without a transpose."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        b, c, t, h, w = x.shape
        return self.conv(x.view(b * t, c, h, w))


def video_folded_by_view() -> Example:
    return VideoFoldedByView(), (torch.randn(2, 3, 4, 5, 6),)


class LastHiddenUnit(nn.Module):
    """``out[:, :, -1]`` of a batch_first GRU: the last hidden unit of every step."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 12, batch_first=True)
        self.head = nn.Linear(12, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, :, -1])


def last_hidden_unit() -> Example:
    return LastHiddenUnit(), (torch.randn(3, 12, 4),)  # T == hidden: it runs


class SqueezeAll(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).squeeze())


def _two_passes(model: nn.Module, first: torch.Tensor, second: torch.Tensor):
    """A trace of two passes: a batch of several samples, then a last batch of one."""
    import shapetrace

    try:
        with shapetrace.trace(model) as t:
            model(first)
            model(second)
    except Exception:  # kept in t.error
        pass
    return t


def squeeze_all_last_batch_of_one():
    x = torch.randn(4, 3, 8, 8)
    return _two_passes(SqueezeAll(), x, x[:1])


def squeeze_explicit_last_batch_of_one():
    x = torch.randn(4, 3, 8, 8)
    return _two_passes(SqueezeExplicit(), x, x[:1])


class StateFromFixedAttribute(nn.Module):
    """h_0 sized by self.batch_size, set once in __init__."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.gru = nn.GRU(3, 8, batch_first=True)

    def forward(self, x):
        h = torch.zeros(1, self.batch_size, 8)
        return self.gru(x, h)[0]


class StateFromResetAttribute(StateFromFixedAttribute):
    """The same, with forward setting self.batch_size from the data first."""

    def forward(self, x):
        if x.size(0) != self.batch_size:
            self.batch_size = x.size(0)
        h = torch.zeros(1, self.batch_size, 8)
        return self.gru(x, h)[0]


def state_from_reset_attribute() -> Example:
    return StateFromResetAttribute(4), (torch.randn(4, 6, 3),)


def state_from_fixed_attribute() -> Example:
    return StateFromFixedAttribute(4), (torch.randn(4, 6, 3),)


class PackedSummary(nn.Module):
    """A packed GRU over padded sentences, summarized by the last padded column
    (ST027) or by each sentence's final state ``h_n[-1]``."""

    def __init__(self, padded_last: bool) -> None:
        super().__init__()
        self.padded_last = padded_last
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.gru(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return self.fc(padded[:, -1] if self.padded_last else h_n[-1])


def packed_padded_last_column() -> Example:
    return PackedSummary(padded_last=True), (torch.randn(3, 6, 4), torch.tensor([6, 2, 4]))


def packed_final_state() -> Example:
    return PackedSummary(padded_last=False), (torch.randn(3, 6, 4), torch.tensor([6, 2, 4]))
