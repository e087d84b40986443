"""The models of the benchmark table, each with its input, at full or smoke size."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from demos.lstm_forecaster import LSTM as ArticleLSTM


@dataclass
class Case:
    """One row of the table: a model, its input, and how to run it plainly."""

    key: str
    label: str
    model: nn.Module
    inputs: tuple
    inference: bool = False  # run under torch.inference_mode (PyTorch's fast paths)
    on_meta: bool = False
    kwargs: dict = field(default_factory=dict)  # keyword inputs (Hugging Face's input_features=...)

    def context(self) -> contextlib.AbstractContextManager:
        return torch.inference_mode() if self.inference else contextlib.nullcontext()

    def forward(self) -> object:
        with self.context():
            return self.model(*self.inputs, **self.kwargs)

    @property
    def device(self) -> torch.device:
        return next(iter(self.model.parameters()), torch.empty(0)).device

    @property
    def input_data(self) -> list | dict:
        """The inputs as torchinfo and torchview take them (a dict is passed as keywords)."""
        return dict(self.kwargs) if self.kwargs else list(self.inputs)


def forecaster(smoke: bool) -> Case:
    torch.manual_seed(0)
    model = ArticleLSTM(input_size=1, hidden_size=64, num_layers=1 if smoke else 5, output_size=1, batch_size=5)
    return Case("forecaster", "article's forecaster, batch 5 × 30", model, (torch.randn(5, 30),))


def transformer(smoke: bool) -> Case:
    layers, width, batch, seq = (2, 64, 2, 16) if smoke else (12, 512, 8, 128)
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(width, nhead=8, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False).eval()
    return Case(
        "transformer",
        f"TransformerEncoder {layers}×{width} (eval), batch {batch} × {seq}",
        model,
        (torch.randn(batch, seq, width),),
        inference=True,
    )


def mlp(smoke: bool) -> Case:
    blocks = 50 if smoke else 2000
    torch.manual_seed(0)
    model = nn.Sequential(*[module for _ in range(blocks) for module in (nn.Linear(16, 16), nn.ReLU())])
    return Case("mlp", f"{blocks:,} × (Linear 16→16 + ReLU), batch 4", model, (torch.randn(4, 16),))


def meta_encoder(layers: int, width: int, heads: int, hidden: int, seq: int, key: str, label: str) -> Case:
    """A stack of encoder layers built on the meta device: shapes, no memory."""
    with torch.device("meta"):
        layer = nn.TransformerEncoderLayer(width, heads, hidden, batch_first=True)
        model = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        x = torch.empty(1, seq, width)
    return Case(key, label, model, (x,), on_meta=True)


def seven_b(smoke: bool) -> Case:
    layers, width, heads, hidden, seq = (2, 256, 4, 512, 64) if smoke else (32, 4096, 32, 11008, 2048)
    return meta_encoder(
        layers,
        width,
        heads,
        hidden,
        seq,
        "meta-7b",
        f"7B-shaped: {layers} × EncoderLayer({width}, {heads}, {hidden}) on meta, 1 × {seq}",
    )


def seventy_b(smoke: bool) -> Case:
    layers, width, heads, hidden, seq = (2, 512, 8, 1024, 64) if smoke else (80, 8192, 64, 28672, 2048)
    return meta_encoder(
        layers,
        width,
        heads,
        hidden,
        seq,
        "meta-70b",
        f"70B-shaped: {layers} × EncoderLayer({width}, {heads}, {hidden}) on meta, 1 × {seq}",
    )


CASES: dict[str, Callable[[bool], Case]] = {
    "forecaster": forecaster,
    "transformer": transformer,
    "mlp": mlp,
    "meta-7b": seven_b,
    "meta-70b": seventy_b,
}
