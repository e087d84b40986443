"""Models that look like the view/reshape and loss bugs of ``tests/cases/variants/``
but are right, and the evidence each new form of those bugs is found by.

The variants (st002_j..m, st005_m..o, st012_m..o, st014_i/j, st016_f..h, st018_a/b,
st019_a, st021_a) are run by ``tests/test_case_variants.py``: buggy found on the culprit
line, fixed quiet, help applied. Here: correct code of the same shapes stays quiet, and
the look-alikes each new piece of evidence must not take for a bug (a skew's crop read
back, a batch of one whose target is unbatched, a bag pooled over its instances, a
where whose fill is a tensor, a resize to a size that happens to be square).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")


def serious(t: shapetrace.Trace) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in t.findings if f.severity in ("warning", "error")]


# ----------------------------------------------------------------- views that are right
class ConvFlattenClassifier(nn.Module):
    """``x.view(x.size(0), -1)`` after a conv: a flatten per sample, in memory order."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 6 * 5, 4)

    def forward(self, x):
        f = torch.relu(self.conv(x))
        return self.fc(f.view(f.size(0), -1))


class ChannelsLastHead(nn.Module):
    """``permute(0, 2, 3, 1)`` then a per-pixel Linear, then back with ``reshape`` of the
    permuted (contiguous-made) map: what st012_m meant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        f = self.conv(x).permute(0, 2, 3, 1).contiguous()
        B, H, W, C = f.shape
        return self.head(f.reshape(B * H * W, C)).reshape(B, H, W, -1)


class TokensAndBack(nn.Module):
    """ViT/Swin style: ``flatten(2).transpose(1, 2)`` to tokens, ``transpose(1, 2).reshape``
    back to the map."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 2, stride=2)
        self.attn = nn.MultiheadAttention(12, 3, batch_first=True)

    def forward(self, x):
        f = self.stem(x)
        B, C, H, W = f.shape
        t = f.flatten(2).transpose(1, 2)
        t, _ = self.attn(t, t, t)
        return t.transpose(1, 2).reshape(B, C, H, W)


class HandAttention(nn.Module):
    """Heads split with ``view(B, T, H, D).transpose(1, 2)`` and merged with
    ``transpose(1, 2).contiguous().view(B, T, C)``; also heads folded batch-major for bmm
    and split back ``view(B, H, T, D)``."""

    def __init__(self, dim=24, heads=3):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):
        B, T, C = x.shape
        D = C // self.h
        q, k, v = (t.view(B, T, self.h, D).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        w = torch.softmax(q @ k.transpose(-2, -1) / D ** 0.5, dim=-1)
        a = (w @ v).transpose(1, 2).contiguous().view(B, T, C)
        qb, kb, vb = (t.reshape(B * self.h, T, D) for t in (q, k, v))
        wb = torch.softmax(torch.bmm(qb, kb.transpose(1, 2)), dim=-1)
        b = torch.bmm(wb, vb).view(B, self.h, T, D).transpose(1, 2).reshape(B, T, C)
        return a + b


class SeqFirstTeacherForcing(nn.Module):
    """What st002_m meant: ``emb.transpose(0, 1)[:-1]`` into a time-major GRU."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 10)
        self.gru = nn.GRU(10, 16)

    def forward(self, tokens):
        out, _ = self.gru(self.emb(tokens).transpose(0, 1)[:-1])
        return out


class SkewReadBack(nn.Module):
    """A relative shift written as Transformer-XL's without the pad: a swapped view,
    cropped, read back by a view (the skew is in the read-back, not a forgotten permute)."""

    def forward(self, scores):  # (b, n, q, k), k = 2 q
        b, n, q, k = scores.shape
        x = scores.view(b, n, k, q)[:, :, 1:]
        return x.reshape(b, n, q, k - 1)


@pytest.mark.parametrize(
    "model, shape",
    [
        (ConvFlattenClassifier(), (2, 3, 6, 5)),
        (ChannelsLastHead(), (2, 3, 5, 6)),
        (TokensAndBack(), (2, 3, 8, 6)),
        (HandAttention(), (2, 5, 24)),
        (SkewReadBack(), (2, 3, 4, 8)),
    ],
    ids=["conv_flatten", "channels_last_head", "tokens_and_back", "hand_attention", "skew_read_back"],
)
def test_right_views_are_quiet(model, shape):
    with shapetrace.trace(model) as t:
        model(torch.randn(*shape, requires_grad=True)).sum().backward()
    assert t.error is None and serious(t) == []


def test_a_right_teacher_forcing_crop_is_quiet():
    model = SeqFirstTeacherForcing()
    with shapetrace.trace(model) as t:
        model(torch.randint(0, 40, (3, 8))).sum().backward()
    assert t.error is None and serious(t) == []


# ------------------------------------------------------------------ losses that are right
class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 16, batch_first=True)
        self.out = nn.Linear(16, 9)

    def forward(self, tokens):
        return self.out(self.lstm(self.emb(tokens))[0])


@pytest.mark.parametrize("form", ["transpose", "flatten", "nll_permute"])
def test_token_logits_given_to_a_class_loss_rightly_are_quiet(form):
    model = Tagger()
    tokens, tags = torch.randint(0, 50, (4, 7)), torch.randint(0, 9, (4, 7))
    with shapetrace.trace(model) as t:
        logits = model(tokens)
        if form == "transpose":
            loss = nn.CrossEntropyLoss()(logits.transpose(1, 2), tags)
        elif form == "flatten":
            loss = F.cross_entropy(logits.reshape(-1, 9), tags.reshape(-1))
        else:
            loss = F.nll_loss(F.log_softmax(logits, -1).permute(0, 2, 1), tags)
        loss.backward()
    assert t.error is None and serious(t) == []


@pytest.mark.parametrize("loss", ["mse", "l1", "bce"])
def test_matching_column_and_flat_targets_are_quiet(loss):
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
    x, y = torch.randn(6, 5), torch.rand(6)
    with shapetrace.trace(model) as t:
        if loss == "mse":
            F.mse_loss(model(x), y.unsqueeze(1)).backward()
        elif loss == "l1":
            nn.L1Loss()(model(x).squeeze(-1), y).backward()
        else:
            nn.BCELoss()(torch.sigmoid(model(x)).squeeze(1), y).backward()
    assert t.error is None and serious(t) == []


def test_a_resize_to_the_targets_size_on_non_square_images_is_quiet():
    body = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.MaxPool2d(4))
    img, gt = torch.randn(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
    with shapetrace.trace(body) as t:
        F.mse_loss(F.interpolate(body(img), size=img.shape[-2:], mode="bilinear"), gt).backward()
    assert t.error is None and serious(t) == []


def test_a_resize_given_width_then_height_is_named_and_its_help_fixes_it():
    """``F.interpolate(d, size=(48, 32))`` for (32, 48) targets: ST016 names the resize
    and says the order; the size the help gives makes the loss run."""

    class Density(nn.Module):
        def __init__(self, size):
            super().__init__()
            self.size = size
            self.body = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.MaxPool2d(4))

        def forward(self, x):
            return F.interpolate(self.body(x), size=self.size, mode="bilinear")

    img, gt = torch.randn(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
    model = Density((48, 32))
    with pytest.raises(RuntimeError, match="must match the size"), shapetrace.trace(model) as t:
        F.mse_loss(model(img), gt)
    (found,) = [f for f in t.findings if f.code == "ST016"]
    assert "last two dims are the target's with height and width swapped, resized by interpolate" in found.message
    assert "size=(32, 48)" in found.hint
    model = Density((32, 48))
    with shapetrace.trace(model) as t:
        F.mse_loss(model(img), gt).backward()
    assert t.error is None and serious(t) == []


# --------------------------------------------------------- squeezes of a batch of one
class Unbatched(nn.Module):
    """One sample without a batch axis: (1, 5) scores of a (1, 4) row... squeezed to (5,)
    against a (5,) target. The squeeze drops no batch (the target has none)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(x).squeeze()


def test_a_squeeze_whose_loss_target_has_no_batch_is_quiet():
    model = Unbatched()
    with shapetrace.trace(model) as t:
        F.mse_loss(model(torch.randn(1, 4)), torch.randn(5)).backward()
    assert t.error is None and [f for f in t.findings if f.code == "ST014"] == []


def test_a_squeeze_of_the_pooled_axis_only_is_quiet_at_batch_one():
    model = nn.Linear(8, 1)
    with shapetrace.trace(model) as t:
        F.binary_cross_entropy_with_logits(model(torch.randn(1, 8)).squeeze(1), torch.ones(1)).backward()
    assert t.error is None and serious(t) == []


def test_a_squeeze_before_a_loss_is_found_by_the_targets_batch_and_its_help_fixes_it():
    """The target (1,) keeps the batch of one that ``out.squeeze()`` dropped; the help
    ``squeeze((1,))`` gives the (1,) prediction the loss compares element by element."""
    model = nn.Linear(8, 1)
    x, y = torch.randn(1, 8), torch.ones(1)
    with shapetrace.trace(model) as t:
        out = model(x)
        F.mse_loss(out.squeeze(), y)
    (found,) = [f for f in t.findings if f.code == "ST014"]
    assert "the batch of the target (1,) of mse_loss" in found.message
    assert found.hint == "use out.squeeze((1,))"
    with shapetrace.trace(model) as t:
        out = model(x)
        F.mse_loss(out.squeeze((1,)), y)
    assert serious(t) == []


# ------------------------------------------------------------- poolings over the batch
class Bag(nn.Module):
    """Multiple-instance learning: a loader's batch of one bag, (1, N, 3, 8, 8), squeezed
    to its N instances; the mean over them (dim 0 of the conv output) is the model."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 2)

    def forward(self, bag):
        f = self.conv(bag.squeeze(0)).mean((2, 3))  # (N, 6)
        return self.fc(f.mean(0, keepdim=False)).unsqueeze(0)


class Whitened(nn.Module):
    """A batch statistic used on purpose: ``f - f.mean(0)`` keeps the batch axis."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        f = self.conv(x)
        return self.fc((f - f.mean(0)).mean((2, 3)))


@pytest.mark.parametrize("model, data, batch", [
    (Bag(), TensorDataset(torch.randn(2, 5, 3, 8, 8), torch.randint(0, 2, (2,))), 1),
    (Whitened(), TensorDataset(torch.randn(8, 3, 8, 8), torch.randint(0, 2, (8,))), 4),
], ids=["bag", "whitened"])
def test_poolings_over_a_conv_batch_on_purpose_are_quiet(model, data, batch):
    with shapetrace.trace(model) as t:
        for x, y in DataLoader(data, batch_size=batch):
            F.cross_entropy(model(x), y).backward()
    assert t.error is None and serious(t) == []


def test_a_cnn_pooled_over_its_loaders_batch_is_found_and_its_help_fixes_it():
    """``f.sum(0)`` on the (4, 6, 8, 8) map of a loader's batch: ST019, help the spatial sum."""

    class Summed(nn.Module):
        def __init__(self, dims):
            super().__init__()
            self.dims = dims
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            f = self.conv(x)
            return self.fc(f.sum(self.dims).view(-1, 6))

    data = TensorDataset(torch.randn(8, 3, 8, 8), torch.randint(0, 2, (8,)))

    def findings(dims):
        model = Summed(dims)
        with shapetrace.trace(model) as t:
            for x, _ in DataLoader(data, batch_size=4):
                model(x)
        return [f for f in t.findings if f.code == "ST019"]

    (found,) = findings(0)
    assert ("sums over dim 0 of (4, 6, 8, 8), dim 0 of the model input (4, 3, 8, 8), a DataLoader's batch"
            in found.message)
    assert found.hint == "use f.sum((2, 3))"
    assert findings((2, 3)) == []


# ----------------------------------------------------------------- masked weights
def test_weights_masked_with_a_tensor_fill_are_followed_to_their_product():
    """``torch.where(keep, w, torch.zeros_like(w))``: zeros_like reads the weights' shape
    only, so the weights still go on to ``w @ v`` (ST021 on dim=1), and dim=-1 is quiet."""

    class Masked(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, q, k, v, keep):
            w = F.softmax(q @ k.transpose(1, 2), dim=self.dim)
            return torch.where(keep, w, torch.zeros_like(w)) @ v

    def codes(dim):
        model = Masked(dim)
        keep = torch.ones(2, 1, 6, dtype=torch.bool)
        with shapetrace.trace(model) as t:
            model(torch.randn(2, 6, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 4), keep)
        return [f.code for f in t.findings if f.severity in ("warning", "error")]

    assert codes(1) == ["ST021"]
    assert codes(-1) == []
