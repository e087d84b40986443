"""ST002 and the skew (relative shift) of relative-position attention.

XLNet's ``rel_shift_bnij``, Funnel's ``_relative_shift_gather``, Transformer-XL's
``_rel_shift`` and Longformer's ``_pad_and_transpose_last_two_dims`` view a block
with its row length changed, so each row shifts against the next, then crop the
rows the shift wrapped. A view that swaps sizes there is the point, not a
permute forgotten: ST002 stays quiet on them, and still fires on a swapped view
whose result is used as axes (an LSTM's input, one time step picked).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")


def _st002(model: nn.Module, *args: torch.Tensor) -> list[str]:
    with shapetrace.trace(model) as t:
        model(*args)
    assert t.error is None
    return [f.message for f in t.findings if f.code == "ST002"]


def _views(trace: shapetrace.Trace, function: str) -> list[str]:
    views = ("view", "reshape")
    return [c.name for c in trace.calls if c.location and c.location.function == function and c.name in views]


class XLNetShift(nn.Module):
    """Relative scores (b, n, q, k) shifted as XLNet does: view with q and k swapped, crop, view back."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        b, n, q, k = scores.shape
        x = scores.reshape(b, n, k, q)[:, :, 1:, :]
        x = x.reshape(b, n, q, k - 1)
        return x[..., :q].softmax(-1)


class TransfoXLShift(nn.Module):
    """Transformer-XL's shift: a zero column padded in, the block viewed (k + 1, q), the first row cropped."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        q, k, b = scores.shape
        padded = F.pad(scores, (0, 0, 1, 0))  # (q, k + 1, b)
        shifted = padded.view(k + 1, q, b)[1:].view_as(scores)
        return shifted.softmax(1)


class DiagonalSkew(nn.Module):
    """Longformer's diagonalisation: a row padded in, the last two dims' sizes swapped, bands cut out."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        skewed = F.pad(scores, (0, 0, 0, 1))  # (b, w + 1, w)
        skewed = skewed.view(*skewed.shape[:-2], skewed.size(-1), skewed.size(-2))  # (b, w, w + 1)
        out = skewed.new_zeros(skewed.shape)
        w = scores.size(-1)
        out[:, :, : w // 2] = skewed[:, :, : w // 2]
        return out


class OverlappingChunks(nn.Module):
    """Longformer's ``_chunk``: a sequence of 4 blocks of 2 (an earlier chunking) re-cut
    into 2 chunks of 4, then read as overlapping chunks by ``as_strided``."""

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        b, n, w, d = blocks.shape
        seq = blocks.reshape(b, n * w, d)
        chunks = seq.view(b, seq.size(1) // (2 * w), 2 * w, d)
        size, stride = list(chunks.size()), list(chunks.stride())
        size[1], stride[1] = size[1] * 2 - 1, stride[1] // 2
        return chunks.as_strided(size=size, stride=stride)


class SwappedIntoLSTM(nn.Module):
    """The bug ST002 is for: (B, T, F) viewed as (T, B, F) for a time-major LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, f = x.shape
        return self.lstm(x.view(t, b, f))[0]


class SwappedLastStep(nn.Module):
    """A swapped view whose one time step is picked: an index, but no crop of a range."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, f = x.shape
        return x.view(t, b, f)[-1]


class SwappedCroppedIntoGRU(nn.Module):
    """Teacher forcing on (B, T, F) viewed as (T, B, F), every step but the last: a crop
    of the swapped view, as a skew crops, but used as axes (no pad before it, no view
    reading the crop back)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, f = x.shape
        return self.gru(x.view(t, b, f)[:-1])[0]


@pytest.mark.parametrize(
    "model, shape",
    [
        (XLNetShift(), (2, 4, 7, 14)),
        (TransfoXLShift(), (5, 9, 2)),
        (DiagonalSkew(), (3, 4, 4)),
        (OverlappingChunks(), (3, 4, 2, 8)),
    ],
    ids=["xlnet", "transfo_xl", "diagonal", "overlapping_chunks"],
)
def test_a_skew_view_is_quiet(model, shape):
    assert _st002(model, torch.randn(*shape)) == []


@pytest.mark.parametrize("model", [SwappedIntoLSTM(), SwappedLastStep(), SwappedCroppedIntoGRU()],
                         ids=["into_lstm", "last_step", "cropped_into_gru"])
def test_a_swapped_view_used_as_axes_still_fires(model):
    found = _st002(model, torch.randn(3, 5, 8))
    assert len(found) == 1 and "(5, 3, 8) from (3, 5, 8)" in found[0]


def _hf(config_name: str, model_name: str, length: int, **kwargs):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = getattr(transformers, config_name)(vocab_size=99, num_labels=3, **kwargs)
        model = getattr(transformers, model_name)(config)
    ids = torch.randint(3, 99, (2, length))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    labels = torch.tensor([0, 2]) if "Classification" in model_name else ids
    return model, dict(input_ids=ids, attention_mask=mask, labels=labels)


@pytest.mark.parametrize(
    "config_name, model_name, length, kwargs, shift",
    [
        ("XLNetConfig", "XLNetForSequenceClassification", 7,
         dict(d_model=32, n_layer=2, n_head=4, d_inner=37), "rel_shift_bnij"),
        ("FunnelConfig", "FunnelForSequenceClassification", 8,
         dict(d_model=32, n_head=4, d_head=8, d_inner=37, block_sizes=[1, 1]), "_relative_shift_gather"),
        ("LongformerConfig", "LongformerForSequenceClassification", 8,
         dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
              attention_window=4, max_position_embeddings=64), "_pad_and_transpose_last_two_dims"),
        # the base model: no global attention, so its second layer re-chunks by `_chunk`
        ("LongformerConfig", "LongformerForMaskedLM", 8,
         dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
              attention_window=4, max_position_embeddings=64), "_chunk"),
    ],
    ids=["xlnet", "funnel", "longformer", "longformer_chunks"],
)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_real_relative_shifts_are_quiet(config_name, model_name, length, kwargs, shift, mode):
    model, inputs = _hf(config_name, model_name, length, **kwargs)
    model.train(mode == "train")
    with shapetrace.trace(model) as t:
        model(**inputs)
    assert t.error is None
    assert _views(t, shift), f"no view traced in {shift}"  # the skew ran and was judged
    assert t.findings == [], [f.message for f in t.findings]
