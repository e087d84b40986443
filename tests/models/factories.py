"""Model factories for ``shapetrace run pkg.module:factory`` tests."""

from __future__ import annotations

from torch import nn

from demos.lstm_forecaster import LSTM
from demos.multistep_forecaster import MultiStepLSTM


def article_forecaster() -> nn.Module:
    return LSTM(input_size=1, hidden_size=64, num_layers=5, output_size=1, batch_size=5)


def seven_b_shaped(layers: int = 32) -> nn.Module:
    """A 7B-parameter-shaped encoder stack (LLaMA-7B widths); only sensible on meta."""
    layer = nn.TransformerEncoderLayer(d_model=4096, nhead=32, dim_feedforward=11008, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)


class TextClassifier(nn.Module):
    """Token ids in: integer inputs must be valid embedding indices."""

    def __init__(self, vocab: int = 50, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.head = nn.Linear(32, classes)

    def forward(self, tokens):
        _, h_n = self.gru(self.embed(tokens))
        return self.head(h_n[-1])


multistep = MultiStepLSTM


def needs_arguments(hidden_size):
    return nn.Linear(hidden_size, 1)


def not_a_module():
    return "a string"
