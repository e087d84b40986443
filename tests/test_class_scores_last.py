"""ST018: a cross-entropy or NLL loss given its class scores in the last dim.

PyTorch's class losses take (N, C, d1, ...) with targets (N, d1, ...); a tagger's
Linear gives (B, T, C). Loud where T != C (the note explains PyTorch's "Expected
target size"), silent where T == C (told by the lineage: the last dim is the
Linear's output). The help, applied, gives the loss of the fixed layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import shapetrace

pytestmark = pytest.mark.filterwarnings("ignore")


class Tagger(nn.Module):
    def __init__(self, tags: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.out = nn.Linear(8, tags)

    def forward(self, tokens):
        h, _ = self.rnn(self.emb(tokens))
        return self.out(h)  # (B, T, tags)


class ChannelsLastSegmenter(nn.Module):
    """Per-pixel class scores from a Linear on (B, H, W, features): (B, H, W, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 8, 3, padding=1)
        self.classify = nn.Linear(8, 4)

    def forward(self, image):
        return self.classify(self.features(image).permute(0, 2, 3, 1))


def traced_loss(model, inputs, target, loss_fn):
    with shapetrace.trace(model) as t:
        try:
            loss_fn(model(inputs), target)
        except RuntimeError:
            pass
    return t


def st018(t):
    return [f for f in t.findings if f.code == "ST018"]


LOSSES = {
    "F.cross_entropy": F.cross_entropy,
    "nn.CrossEntropyLoss()": nn.CrossEntropyLoss(),
    "F.nll_loss after log_softmax": lambda scores, tags: F.nll_loss(F.log_softmax(scores, dim=-1), tags),
    "nn.NLLLoss()": lambda scores, tags: nn.NLLLoss()(scores.log_softmax(-1), tags),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_tagger_s_scores_given_as_b_t_c_raise_and_the_note_names_the_layout(loss):
    torch.manual_seed(0)
    model = Tagger(tags=5)
    # 10 steps, 5 classes: a factor of 2 that ST016 (resolution) must not take for a resize
    tokens, tags = torch.randint(0, 30, (3, 10)), torch.randint(0, 5, (3, 10))
    with pytest.raises(RuntimeError, match="Expected target size") as raised, shapetrace.trace(model):
        LOSSES[loss](model(tokens), tags)
    note = "\n".join(raised.value.__notes__)
    assert "explained by" in note and "ST018" in note.split("explained by", 1)[1], note
    t = traced_loss(model, tokens, tags, LOSSES[loss])
    (found,) = st018(t)
    assert "(3, 10, 5) and target (3, 10)" in found.message and "5 classes, made by out" in found.message
    assert "reads dim 1 (10) as the classes and raises" in found.message
    assert not [f for f in t.findings if f.code == "ST016"]  # not a resolution mismatch


def test_as_many_steps_as_classes_is_found_by_the_layer_that_made_the_scores():
    torch.manual_seed(0)
    model = Tagger(tags=6)
    tokens, tags = torch.randint(0, 30, (3, 6)), torch.randint(0, 6, (3, 6))
    t = traced_loss(model, tokens, tags, F.cross_entropy)
    assert t.error is None  # PyTorch says nothing
    (found,) = st018(t)
    assert found.severity == "error" and "the sizes fit only because 6 == 6" in found.message


def test_channels_last_segmentation_scores_are_found_with_a_permute_for_help():
    torch.manual_seed(0)
    model = ChannelsLastSegmenter()
    image, mask = torch.rand(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))
    (found,) = st018(traced_loss(model, image, mask, F.cross_entropy))
    assert ".permute(0, 3, 1, 2) as the input (classes in dim 1)" in found.hint, found.hint


CORRECT = {
    "transposed to (B, C, T)": (lambda: Tagger(7), (3, 7), 7, lambda s, y: F.cross_entropy(s.transpose(1, 2), y)),
    "flattened to (B*T, C)": (
        lambda: Tagger(7), (3, 7), 7, lambda s, y: F.cross_entropy(s.reshape(-1, 7), y.reshape(-1))
    ),
    "soft targets, both transposed": (
        lambda: Tagger(5), (3, 9), 5, lambda s, y: F.cross_entropy(s.transpose(1, 2), y.transpose(1, 2))
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_scores_in_dim_1_flattened_or_with_soft_targets_are_not_found(name):
    torch.manual_seed(0)
    make, size, tags, loss = CORRECT[name]
    model = make()
    tokens = torch.randint(0, 30, size)
    target = torch.rand(*size, tags).softmax(-1) if "soft" in name else torch.randint(0, tags, size)
    t = traced_loss(model, tokens, target, loss)
    assert t.error is None and st018(t) == []
    assert any(c.kind == "op" and c.name == "cross_entropy" for c in t.calls)  # the loss was seen


def test_a_conv_s_scores_with_as_many_positions_as_classes_are_not_found():
    # (N, C, L) from a Conv1d, C == L: dim 1 is the layer's output, the layout PyTorch takes
    torch.manual_seed(0)
    model = nn.Conv1d(3, 6, 3, padding=1)
    t = traced_loss(model, torch.randn(2, 3, 6), torch.randint(0, 6, (2, 6)), F.cross_entropy)
    assert t.error is None and st018(t) == []


def test_the_applied_help_gives_the_loss_of_the_fixed_layout_and_no_finding():
    torch.manual_seed(0)
    model = Tagger(tags=6)
    tokens, tags = torch.randint(0, 30, (3, 6)), torch.randint(0, 6, (3, 6))

    def written(scores, tags):
        return F.cross_entropy(scores, tags)

    (found,) = st018(traced_loss(model, tokens, tags, written))
    moved = found.hint.removeprefix("pass ").split(" as the input")[0]
    assert moved == "scores.transpose(1, 2)"

    def applied(scores, tags):
        return F.cross_entropy(eval(moved, {"scores": scores}), tags)

    t = traced_loss(model, tokens, tags, applied)
    assert st018(t) == [] and t.error is None
    with torch.no_grad():
        scores = model(tokens)
        assert torch.equal(applied(scores, tags), F.cross_entropy(scores.permute(0, 2, 1), tags))
        assert not torch.equal(applied(scores, tags), written(scores, tags))


def test_soft_targets_with_the_classes_last_are_found_though_the_sizes_fit():
    # probabilities (B, T, C) softmaxed over the classes: cross_entropy reads dim 1 (T) as classes
    torch.manual_seed(0)
    model = Tagger(tags=5)
    tokens, teacher = torch.randint(0, 30, (3, 9)), torch.randn(3, 9, 5).softmax(-1)
    t = traced_loss(model, tokens, teacher, F.cross_entropy)
    assert t.error is None
    (found,) = st018(t)
    assert "class probabilities are read the same way" in found.message
    assert found.hint.startswith("pass model(inputs).transpose(1, 2) and target.transpose(1, 2)"), found.hint
