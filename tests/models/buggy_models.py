"""Models with one shape bug each, beyond the gallery in ``demos/bugs``.

Every factory returns ``(model, inputs)``; running the model may raise.
"""

from __future__ import annotations

import torch
from torch import nn

import shapetrace
from tests.models.correct_models import AttentionPooling, Example, HeadsAttention, StackedLayers


class SeqFirstCodeBatchFirstData(nn.Module):
    """Seq-first code (``out[-1]``, h_0 from dim 1) fed batch-first data: only sizes tell."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        h_0 = torch.zeros(1, x.size(0), 16)  # batch taken from dim 0: the data is batch first
        c_0 = torch.zeros(1, x.size(0), 16)
        out, _ = self.lstm(x, (h_0, c_0))
        return self.head(out[-1])


def batch_first_data_equal_sizes() -> Example:
    """Batch and time both 8: PyTorch runs it, and the sizes cannot tell."""
    return SeqFirstCodeBatchFirstData(), (torch.randn(8, 8, 1),)


def batch_first_data_by_hidden_size() -> Example:
    """Batch 8, time 30: h_0's batch gives the data's layout away (and PyTorch raises)."""
    return SeqFirstCodeBatchFirstData(), (torch.randn(8, 30, 1),)


class MergedSplitBack(nn.Module):
    """(B, T, H) merged to (B*T, H) for the Linear, split back as (T, B)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        batch, steps, _ = x.shape
        out, _ = self.lstm(x)
        pred = self.head(out.reshape(batch * steps, 16))
        return pred.view(steps, batch, 1)  # (B*T) read as (T, B)


def merged_split_back() -> Example:
    return MergedSplitBack(), (torch.randn(4, 10, 3),)


class LiteralBatch(nn.Module):
    """A literal 4 for the batch in a view and in h_0."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(1, 8, batch_first=True)

    def forward(self, x):
        h_0 = torch.zeros(1, 4, 8)
        out, _ = self.gru(x.view(4, 12, 1), h_0)
        return out[:, -1, :]


def literal_batch() -> Example:
    return LiteralBatch(), (torch.randn(4, 12),)


class LiteralSquare(nn.Module):
    """``view(4, 4, 1)`` of a batch of 4 windows of 4 steps: which 4 is the batch?"""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(1, 8, batch_first=True)

    def forward(self, x):
        out, _ = self.gru(x.view(4, 4, 1))
        return out[:, -1, :]


def literal_batch_equal_sizes() -> Example:
    return LiteralSquare(), (torch.randn(4, 4),)


class FixedStateShortBatch(nn.Module):
    """The views follow the data, but h_0 keeps ``self.batch_size``."""

    def __init__(self, batch_size: int = 5) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.lstm = nn.LSTM(1, 8, batch_first=True)

    def forward(self, x):
        h_0 = torch.zeros(1, self.batch_size, 8)
        c_0 = torch.zeros(1, self.batch_size, 8)
        out, _ = self.lstm(x.unsqueeze(-1), (h_0, c_0))
        return out[:, -1, :]


def fixed_state_short_batch() -> Example:
    return FixedStateShortBatch(batch_size=5), (torch.randn(3, 20),)


class TransposedView(nn.Module):
    """Views on non-contiguous tensors: one PyTorch accepts, one it refuses."""

    def __init__(self, merge: bool) -> None:
        super().__init__()
        self.merge = merge
        self.lstm = nn.LSTM(2, 8, batch_first=True)

    def forward(self, x):
        out, _ = self.lstm(x)  # non-contiguous
        if self.merge:
            return out.view(-1, 8)  # merges batch and time: raises
        return out.view(out.size(0), out.size(1), 2, 4)  # splits the last dim: fine


def view_merging_non_contiguous() -> Example:
    return TransposedView(merge=True), (torch.randn(3, 5, 2),)


def view_splitting_non_contiguous() -> Example:
    return TransposedView(merge=False), (torch.randn(3, 5, 2),)


class FunctionalLoss(nn.Module):
    """A training step whose l1 loss compares (N, 1) with (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 1)

    def forward(self, x, target):
        return nn.functional.l1_loss(self.head(x), target)


def functional_loss_broadcast() -> Example:
    return FunctionalLoss(), (torch.randn(6, 4), torch.randn(6))


class SeqFirstBidirectionalLastStep(nn.Module):
    """Seq-first bidirectional GRU read at ``out[-1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 8, bidirectional=True)

    def forward(self, x):
        out, _ = self.gru(x)
        return out[-1]


def seq_first_bidirectional_last_step() -> Example:
    return SeqFirstBidirectionalLastStep(), (torch.randn(12, 4, 3),)


class ForwardHalfLastStep(SeqFirstBidirectionalLastStep):
    """Reads the forward half only at the last step: correct."""

    def forward(self, x):
        out, _ = self.gru(x)
        return out[-1, :, :8]


def forward_half_last_step() -> Example:
    return ForwardHalfLastStep(), (torch.randn(12, 4, 3),)


class BatchFirstHiddenState(nn.Module):
    """h_0 laid out batch first because the LSTM is: batch_first never applies to it."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, 8, num_layers=2, batch_first=True)

    def forward(self, x):
        h_0 = torch.zeros(x.size(0), 2, 8)
        return self.lstm(x, (h_0, h_0.clone()))[0]


def batch_first_hidden_state() -> Example:
    return BatchFirstHiddenState(), (torch.randn(6, 5, 2),)


class MixedDevices(nn.Module):
    """Concatenates data on ``meta`` with a tensor made on the CPU."""

    def forward(self, x):
        padding = torch.zeros(x.size(0), 2)
        return torch.cat([x, padding], dim=1)


def mixed_devices() -> Example:
    return MixedDevices(), (torch.randn(3, 4, device="meta"),)


class ModelOnMeta(nn.Module):
    """Parameters on ``meta``, data on the CPU: the error names the devices."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 1, device="meta")

    def forward(self, x):
        return self.head(x)


def parameters_elsewhere() -> Example:
    return ModelOnMeta(), (torch.randn(3, 4),)


class Float64Target(nn.Module):
    """A float32 prediction against a float64 target: promoted silently."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 1)

    def forward(self, x, target):
        return nn.functional.mse_loss(self.head(x), target)


def float64_target() -> Example:
    return Float64Target(), (torch.randn(5, 4), torch.randn(5, 1, dtype=torch.float64))


class FloatTokens(nn.Module):
    """Token ids as floats into an Embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)

    def forward(self, tokens):
        return self.embedding(tokens)


def float_tokens() -> Example:
    return FloatTokens(), (torch.zeros(2, 5),)


class BidirectionalHeadTooSmall(nn.Module):
    """A per-step head built for hidden_size features after a bidirectional LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 16, batch_first=True, bidirectional=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


def bidirectional_head_too_small() -> Example:
    return BidirectionalHeadTooSmall(), (torch.randn(2, 7, 3),)


class ChannelsLastConv(nn.Module):
    """(batch, length, channels) straight into a Conv1d that wants (batch, channels, length)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(6, 4, 3)

    def forward(self, x):
        return self.conv(x)


def channels_last_conv() -> Example:
    return ChannelsLastConv(), (torch.randn(2, 20, 6),)


def length_router_varied() -> shapetrace.Trace:
    """ST011: the extra projection runs for long sequences only."""
    from demos.bugs.st011_size_dependent import LengthRouter

    return shapetrace.vary(LengthRouter(), lambda B, T: torch.randn(B, T, 4), B=(8, 3), T=(48, 12))


# ---------------------------------------------- recurrent state and losses (issue 17)
class LSTMGivenOneState(nn.Module):
    """Ported from a GRU: the LSTM gets h_0 alone where it takes (h_0, c_0)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 8, batch_first=True)

    def forward(self, x, h_0):
        out, _ = self.rnn(x, h_0)
        return out[:, -1]


def lstm_given_one_state() -> Example:
    return LSTMGivenOneState(), (torch.randn(4, 10, 3), torch.zeros(1, 4, 8))


class GRUGivenPair(nn.Module):
    """Ported from an LSTM: the GRU gets (h_0, c_0) where it takes h_0 alone."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 8)

    def forward(self, x):
        h_0 = torch.zeros(1, x.size(1), 8)
        out, _ = self.rnn(x, (h_0, h_0.clone()))
        return out[-1]


def gru_given_pair() -> Example:
    return GRUGivenPair(), (torch.randn(10, 4, 3),)


class DensityAtFullSize(nn.Module):
    """Two 2x poolings, then a loss against a full-resolution target."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 1, 3, padding=1),
                                  nn.MaxPool2d(2))

    def forward(self, img, density):
        return nn.functional.mse_loss(self.body(img), density)


def density_at_full_size() -> Example:
    return DensityAtFullSize(), (torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32))


class TaggerLoss(nn.Module):
    """A sequence tagger whose cross-entropy gets (B, T, C) scores: the classes last."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.classes = classes
        self.emb = nn.Embedding(20, 8)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.tags = nn.Linear(8, classes)

    def forward(self, tokens, tags):
        out, _ = self.gru(self.emb(tokens))
        return nn.functional.cross_entropy(self.tags(out), tags)


def tagger_classes_last() -> Example:
    """Raises in PyTorch: (4, 7, 5) is read as 7 classes."""
    return TaggerLoss(), (torch.randint(0, 20, (4, 7)), torch.randint(0, 5, (4, 7)))


class ClassifierLoss(nn.Module):
    """A classifier whose cross-entropy is taken in forward, on the labels as given."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x, labels):
        return nn.functional.cross_entropy(self.net(x), labels)


def labels_as_a_column() -> Example:
    """Raises in PyTorch: labels (4, 1), "multi-target not supported"."""
    return ClassifierLoss(), (torch.randn(4, 6), torch.randint(0, 3, (4, 1)))


def attention_pooling_over_batch() -> Example:
    """Silent: the attention weights sum to 1 over the 4 samples, not the 9 steps."""
    return AttentionPooling(0), (torch.randint(0, 30, (4, 9)),)


def attention_softmax_over_heads() -> Example:
    """Silent: 4 heads and 4 positions, the weights normalised over the heads."""
    return HeadsAttention(1), (torch.randn(2, 4, 16),)


def layers_in_a_plain_list() -> Example:
    """Silent: the hidden layers run, but model.parameters() holds only the output layer."""
    return StackedLayers(list), (torch.randn(5, 6),)
