"""Real models for the benchmark table: Hugging Face transformers, neuralforecast,
``nn.Transformer`` and torchvision's ResNet-18 and MobileNetV2 (rebuilt in
``vision_models.py``: no torchvision imports here), built from the tiny configs of
``tests/models/real_models.py`` (random init, nothing downloaded). A case whose
library is not installed, or does not import, is left out (with the reason).

Run with ``python benchmarks/bench.py --real`` (not in the default or smoke runs:
importing transformers alone takes seconds).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from benchmarks.imports import NOT_INSTALLED, import_problem
from benchmarks.models import Case
from benchmarks.vision_models import MobileNetV2, ResNet18
from tests.models.real_models import BY_NAME, EXTRA, RealModel

_VISION = [
    RealModel("tv_resnet18", "torch", lambda: (ResNet18(), None)),
    RealModel("tv_mobilenet_v2", "torch", lambda: (MobileNetV2(), None)),
]
_ZOO = {**BY_NAME, **{entry.name: entry for entry in [*EXTRA, *_VISION]}}


Inputs = tuple[tuple, dict]  # positional and keyword inputs


def _token_ids() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randint(3, 99, (2, 32))


def _ids() -> Inputs:
    return (_token_ids(),), {}


def _images() -> Inputs:
    return (torch.randn(2, 3, 32, 32),), {}


def _full_images() -> Inputs:
    return (torch.randn(2, 3, 64, 64),), {}


def _windows() -> Inputs:
    window = {"insample_y": torch.randn(3, 12, 1), "insample_mask": torch.ones(3, 12, 1)}
    return ({**window, "futr_exog": None, "hist_exog": None, "stat_exog": None},), {}


def _t5() -> Inputs:
    return (), {"input_ids": _token_ids(), "decoder_input_ids": _token_ids()[:, :8]}


def _whisper() -> Inputs:
    return (), {"input_features": torch.randn(2, 8, 32), "decoder_input_ids": _token_ids()[:, :5]}


def _audio() -> Inputs:
    return (torch.randn(2, 400),), {}


def _source_target() -> Inputs:
    return (torch.randn(2, 9, 32), torch.randn(2, 5, 32)), {}


# key -> (zoo entry, label, inputs)
_INPUTS: dict[str, tuple[str, str, Callable[[], Inputs]]] = {
    "hf-gpt2": ("hf_gpt2", "HF GPT-2 (2 layers, 32 wide), 2 × 32 tokens", _ids),
    "hf-bert": ("hf_bert", "HF BERT (2 layers, 32 wide), 2 × 32 tokens", _ids),
    "hf-t5": ("hf_t5_generate", "HF T5 (2+2 layers, 32 wide), 2 × 32 tokens, 8 decoder tokens", _t5),
    "hf-llama": ("hf_llama", "HF Llama (2 layers, 32 wide, GQA), 2 × 32 tokens", _ids),
    "hf-mistral": ("hf_mistral", "HF Mistral (2 layers, 32 wide), 2 × 32 tokens", _ids),
    "hf-rwkv": ("hf_rwkv", "HF RWKV (2 layers, 32 wide), 2 × 32 tokens", _ids),
    "hf-mamba": ("hf_mamba", "HF Mamba (2 layers, 32 wide), 2 × 32 tokens", _ids),
    "hf-whisper": ("hf_whisper", "HF Whisper (1+1 layers, 32 wide), 8 mel × 32 frames", _whisper),
    "hf-wav2vec2": ("hf_wav2vec2", "HF wav2vec2 (1 layer, 32 wide), 2 × 400 samples", _audio),
    "hf-vit": ("hf_vit", "HF ViT (1 layer, 32 wide), 2 × 3 × 32 × 32", _images),
    "hf-convnext": ("hf_convnext", "HF ConvNeXt (2 stages), 2 × 3 × 32 × 32", _images),
    "hf-swin": ("hf_swin", "HF Swin (2 stages), 2 × 3 × 32 × 32", _images),
    "nf-lstm": ("nf_lstm", "neuralforecast LSTM (h=4, input 12), batch 3", _windows),
    "nf-nhits": ("nf_nhits", "neuralforecast NHITS (h=4, input 12), batch 3", _windows),
    "nf-tft": ("nf_tft", "neuralforecast TFT (h=4, input 12, hidden 16), batch 3", _windows),
    "nf-gru": ("nf_gru", "neuralforecast GRU (h=4, input 12), batch 3", _windows),
    "nf-rnn": ("nf_rnn", "neuralforecast RNN (h=4, input 12), batch 3", _windows),
    "nf-deepar": ("nf_deepar", "neuralforecast DeepAR (h=4, input 12, hidden 16), batch 3", _windows),
    "tv-resnet18": ("tv_resnet18", "torchvision-style ResNet-18 (rebuilt†), 2 × 3 × 64 × 64", _full_images),
    "tv-mobilenet-v2": ("tv_mobilenet_v2", "torchvision-style MobileNetV2 (rebuilt†), 2 × 3 × 64 × 64", _full_images),
    "nn-transformer": ("nn_transformer", "nn.Transformer (2+2 layers, 32 wide), 2 × 9 → 2 × 5", _source_target),
}


def _case(key: str) -> Callable[[bool], Case]:
    entry_name, label, inputs = _INPUTS[key]

    def make(smoke: bool) -> Case:
        entry = _ZOO[entry_name]
        problem = import_problem(entry.library)
        if problem is not None:
            hint = " (pip install -e '.[real]')" if problem == NOT_INSTALLED else ""
            raise ModuleNotFoundError(f"{entry.library} {problem}{hint}")
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = entry.make()
        args, kwargs = inputs()
        return Case(key, label, model.eval(), args, kwargs=kwargs)

    return make


REAL_CASES: dict[str, Callable[[bool], Case]] = {key: _case(key) for key in _INPUTS}


def label(key: str) -> str:
    """The table's label of case ``key``, without building it."""
    return _INPUTS[key][1]


def library(key: str) -> str:
    """The package case ``key`` needs (``torch`` for none)."""
    return _ZOO[_INPUTS[key][0]].library
