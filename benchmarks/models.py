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


# LLM-shaped encoder stacks on meta: (layers, width, heads, hidden, seq) at
# full size (LLaMA-7B's and -70B's widths) and at smoke size.
_LLM_SHAPED = {
    "meta-7b": ("7B", (32, 4096, 32, 11008, 2048), (2, 256, 4, 512, 64)),
    "meta-70b": ("70B", (80, 8192, 64, 28672, 2048), (2, 512, 8, 1024, 64)),
}


def llm_shaped(key: str) -> Callable[[bool], Case]:
    """The builder of an ``_LLM_SHAPED`` case: a stack of encoder layers built on
    the meta device (shapes, no memory)."""
    size, full, small = _LLM_SHAPED[key]

    def make(smoke: bool) -> Case:
        layers, width, heads, hidden, seq = small if smoke else full
        with torch.device("meta"):
            layer = nn.TransformerEncoderLayer(width, heads, hidden, batch_first=True)
            model = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
            x = torch.empty(1, seq, width)
        label = f"{size}-shaped: {layers} × EncoderLayer({width}, {heads}, {hidden}) on meta, 1 × {seq}"
        return Case(key, label, model, (x,), on_meta=True)

    return make


CASES: dict[str, Callable[[bool], Case]] = {
    "forecaster": forecaster,
    "transformer": transformer,
    "mlp": mlp,
    **{key: llm_shaped(key) for key in _LLM_SHAPED},
}
