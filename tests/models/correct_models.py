"""Correct models the shape checks must leave alone, each with an input.

Every entry of ``CORRECT`` builds ``(model, inputs)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

import shapetrace
from demos.bidirectional_forecaster import BiLSTM
from demos.lstm_forecaster import LSTM as ArticleLSTM
from tests.models.varied_models import FixedArticleLSTM

Example = tuple[nn.Module, tuple[torch.Tensor, ...]]


def seed_forecaster() -> Example:
    """The article's model on a full batch: (5, 30) -> (5, 1)."""
    torch.manual_seed(0)
    model = ArticleLSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)
    return model, (torch.randn(5, 30),)


def seed_from_data() -> Example:
    """The article's forecaster with its batch size read from the input."""
    return FixedArticleLSTM(), (torch.randn(5, 30),)


def bidirectional_forecaster() -> Example:
    """Multivariate, bidirectional, reading h_n of both directions."""
    return BiLSTM(), (torch.randn(8, 24, 7),)


class SeqFirstGRU(nn.Module):
    """(hours, batch, features) into a GRU built seq-first, as PyTorch's default."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[-1])


def seq_first_gru() -> Example:
    return SeqFirstGRU(), (torch.randn(30, 8, 3),)


class SeqFirstGRUWithState(SeqFirstGRU):
    """The same, with an explicit h_0 and a mean over time."""

    def forward(self, x):
        h_0 = torch.zeros(1, x.size(1), 16)
        out, _ = self.gru(x, h_0)
        return self.head(out.mean(dim=0))


def seq_first_gru_with_state() -> Example:
    return SeqFirstGRUWithState(), (torch.randn(30, 8, 3),)


class TextTransformer(nn.Module):
    """Token classifier: embeddings, a batch_first TransformerEncoder, mean pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, nhead=4, dim_feedforward=64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(32, 3)

    def forward(self, tokens):
        hidden = self.encoder(self.embedding(tokens))
        return self.head(hidden.mean(dim=1))


def text_transformer() -> Example:
    return TextTransformer().eval(), (torch.randint(0, 100, (4, 12)),)


class ConvForecaster(nn.Module):
    """(batch, hours, features) -> transpose for Conv1d -> pooled -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(5, 8, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        features = torch.relu(self.conv(x.transpose(1, 2)))  # (B, 8, T)
        return self.head(self.pool(features).flatten(1))


def conv_forecaster() -> Example:
    return ConvForecaster(), (torch.randn(6, 24, 5),)


class CellLoop(nn.Module):
    """An LSTMCell stepped through time in Python, then a Linear per step."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(2, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):  # (batch, steps, 2)
        h = x.new_zeros(x.size(0), 16)
        c = x.new_zeros(x.size(0), 16)
        outputs = []
        for t in range(x.size(1)):
            h, c = self.cell(x[:, t, :], (h, c))
            outputs.append(self.head(h))
        return torch.stack(outputs, dim=1)  # (batch, steps, 1)


def cell_loop() -> Example:
    return CellLoop(), (torch.randn(4, 6, 2),)


class TrainingStep(nn.Module):
    """A forecaster and its loss in one forward, target shaped like the prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x, target):
        out, _ = self.lstm(x)
        pred = self.head(out[:, -1, :])
        return nn.functional.mse_loss(pred, target)


def training_step() -> Example:
    return TrainingStep(), (torch.randn(8, 24, 1), torch.randn(8, 1))


CORRECT: dict[str, Callable[[], Example]] = {
    "seed_forecaster": seed_forecaster,
    "seed_from_data": seed_from_data,
    "bidirectional_forecaster": bidirectional_forecaster,
    "seq_first_gru": seq_first_gru,
    "seq_first_gru_with_state": seq_first_gru_with_state,
    "text_transformer": text_transformer,
    "conv_forecaster": conv_forecaster,
    "cell_loop": cell_loop,
    "training_step": training_step,
}


def seed_from_data_varied() -> shapetrace.Trace:
    """The article's forecaster reading its sizes from the data, at two batch sizes and lengths."""
    model, (x,) = seed_from_data()
    return shapetrace.vary(model, lambda B, T: torch.randn(B, T), B=(x.size(0), 3), T=(x.size(1), 11))


# ---------------------------------------------- recurrent state, packed sequences, losses (issue 17)
class LSTMWithState(nn.Module):
    """An LSTM given its initial state as the pair (h_0, c_0), built from the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h_0 = torch.zeros(1, x.size(0), 8)
        out, _ = self.lstm(x, (h_0, torch.zeros_like(h_0)))
        return self.head(out[:, -1])


def lstm_with_state() -> Example:
    return LSTMWithState(), (torch.randn(4, 10, 3),)


class PooledDensity(nn.Module):
    """A density map at 1/4 resolution against a target sum-pooled to the same size."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 1, 3, padding=1),
                                  nn.MaxPool2d(2))

    def forward(self, img, density):
        return nn.functional.mse_loss(self.body(img), nn.functional.avg_pool2d(density, 4) * 16)


def pooled_density() -> Example:
    return PooledDensity(), (torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32))


class QuantileHead(nn.Module):
    """Quantile regression: every predicted quantile against every target sample,
    (m, N, 1) against (m, 1, N) with reduction='none', as intended."""

    def __init__(self, quantiles: int = 5) -> None:
        super().__init__()
        self.head = nn.Linear(6, quantiles)
        self.register_buffer("tau", (torch.arange(quantiles) + 0.5) / quantiles)

    def forward(self, x, samples):
        pred = self.head(x).unsqueeze(-1)  # (m, N, 1)
        target = samples.unsqueeze(1)  # (m, 1, N)
        error = nn.functional.huber_loss(pred, target, reduction="none")  # (m, N, N)
        weight = torch.abs(self.tau.view(1, -1, 1) - (target - pred < 0).float())
        return (weight * error).mean()


def quantile_head() -> Example:
    return QuantileHead(), (torch.randn(8, 6), torch.randn(8, 5))


class PackedBiGRU(nn.Module):
    """Padded sentences through pack_padded_sequence and a bidirectional GRU,
    summarised by the final states of both directions."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 6)
        self.rnn = nn.GRU(6, 4, bidirectional=True, batch_first=True)

    def forward(self, words, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(words), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, h_n = self.rnn(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return torch.cat([h_n[-2], h_n[-1]], dim=1) + padded.mean(1)


def packed_bigru() -> Example:
    return PackedBiGRU(), (torch.randint(1, 50, (4, 7)), torch.tensor([7, 3, 5, 2]))


CORRECT.update({
    "lstm_with_state": lstm_with_state,
    "pooled_density": pooled_density,
    "quantile_head": quantile_head,
    "packed_bigru": packed_bigru,
})


class TaggerLossTransposed(nn.Module):
    """The tagger's cross-entropy on (B, C, T) scores, its length equal to its classes."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.tags = nn.Linear(8, 7)

    def forward(self, tokens, tags):
        out, _ = self.gru(self.emb(tokens))
        return nn.functional.cross_entropy(self.tags(out).transpose(1, 2), tags)


def tagger_classes_in_dim_1() -> Example:
    return TaggerLossTransposed(), (torch.randint(0, 20, (4, 7)), torch.randint(0, 7, (4, 7)))


def labels_as_indices() -> Example:
    from tests.models.buggy_models import ClassifierLoss

    return ClassifierLoss(), (torch.randn(4, 6), torch.randint(0, 3, (4,)))


class AttentionPooling(nn.Module):
    """Attention pooling over a batch-first LSTM's time steps: softmax over dim ``over``."""

    def __init__(self, over: int = 1) -> None:
        super().__init__()
        self.over = over
        self.emb = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.score = nn.Linear(16, 1)
        self.out = nn.Linear(16, 3)

    def forward(self, tokens):
        h, _ = self.lstm(self.emb(tokens))
        weights = torch.softmax(self.score(h).squeeze(-1), dim=self.over)
        return self.out((weights.unsqueeze(-1) * h).sum(dim=1))


def attention_pooling_over_time() -> Example:
    return AttentionPooling(1), (torch.randint(0, 30, (4, 9)),)


class HeadsAttention(nn.Module):
    """Multi-head self-attention written out, its softmax over dim ``over`` of (B, heads, T, T)."""

    def __init__(self, over: int = -1, d: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.over, self.heads = over, heads
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=self.over)
        return (weights @ v).transpose(1, 2).reshape(b, t, d)


def attention_softmax_over_keys() -> Example:
    return HeadsAttention(-1), (torch.randn(2, 4, 16),)


class StackedLayers(nn.Module):
    """Hidden layers held in ``container`` (``nn.ModuleList`` registers them; a plain
    ``list`` does not: ST024)."""

    def __init__(self, container: Callable = nn.ModuleList) -> None:
        super().__init__()
        self.hidden = container([nn.Linear(6, 16), nn.Linear(16, 16)])
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


def layers_in_a_module_list() -> Example:
    return StackedLayers(), (torch.randn(5, 6),)
