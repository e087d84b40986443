"""Real models for the benchmark table: Hugging Face transformers, neuralforecast and
``nn.Transformer``, built from the tiny configs of ``tests/models/real_models.py``
(random init, nothing downloaded). A case whose library is not installed is left out.

Run with ``python benchmarks/bench.py --real`` (not in the default or smoke runs:
importing transformers alone takes seconds).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from benchmarks.models import Case
from tests.models.real_models import BY_NAME, EXTRA, importable

_ZOO = {**BY_NAME, **{entry.name: entry for entry in EXTRA}}


def _ids() -> tuple:
    torch.manual_seed(1)
    return (torch.randint(3, 99, (2, 32)),)


def _images() -> tuple:
    return (torch.randn(2, 3, 32, 32),)


def _windows() -> tuple:
    return (
        {
            "insample_y": torch.randn(3, 12, 1),
            "insample_mask": torch.ones(3, 12, 1),
            "futr_exog": None,
            "hist_exog": None,
            "stat_exog": None,
        },
    )


# key -> (zoo entry, label, positional inputs, keyword inputs)
_INPUTS: dict[str, tuple[str, str, Callable[[], tuple], Callable[[], dict]]] = {
    "hf-gpt2": ("hf_gpt2", "HF GPT-2 (2 layers, 32 wide), 2 × 32 tokens", _ids, dict),
    "hf-bert": ("hf_bert", "HF BERT (2 layers, 32 wide), 2 × 32 tokens", _ids, dict),
    "hf-t5": (
        "hf_t5_generate",
        "HF T5 (2+2 layers, 32 wide), 2 × 32 tokens, 8 decoder tokens",
        tuple,
        lambda: {"input_ids": _ids()[0], "decoder_input_ids": _ids()[0][:, :8]},
    ),
    "hf-llama": ("hf_llama", "HF Llama (2 layers, 32 wide, GQA), 2 × 32 tokens", _ids, dict),
    "hf-mistral": ("hf_mistral", "HF Mistral (2 layers, 32 wide), 2 × 32 tokens", _ids, dict),
    "hf-rwkv": ("hf_rwkv", "HF RWKV (2 layers, 32 wide), 2 × 32 tokens", _ids, dict),
    "hf-mamba": ("hf_mamba", "HF Mamba (2 layers, 32 wide), 2 × 32 tokens", _ids, dict),
    "hf-whisper": (
        "hf_whisper",
        "HF Whisper (1+1 layers, 32 wide), 8 mel × 32 frames",
        tuple,
        lambda: {"input_features": torch.randn(2, 8, 32), "decoder_input_ids": _ids()[0][:, :5]},
    ),
    "hf-wav2vec2": (
        "hf_wav2vec2",
        "HF wav2vec2 (1 layer, 32 wide), 2 × 400 samples",
        lambda: (torch.randn(2, 400),),
        dict,
    ),
    "hf-vit": ("hf_vit", "HF ViT (1 layer, 32 wide), 2 × 3 × 32 × 32", _images, dict),
    "hf-convnext": ("hf_convnext", "HF ConvNeXt (2 stages), 2 × 3 × 32 × 32", _images, dict),
    "hf-swin": ("hf_swin", "HF Swin (2 stages), 2 × 3 × 32 × 32", _images, dict),
    "nf-lstm": ("nf_lstm", "neuralforecast LSTM (h=4, input 12), batch 3", _windows, dict),
    "nf-nhits": ("nf_nhits", "neuralforecast NHITS (h=4, input 12), batch 3", _windows, dict),
    "nf-tft": ("nf_tft", "neuralforecast TFT (h=4, input 12, hidden 16), batch 3", _windows, dict),
    "nn-transformer": (
        "nn_transformer",
        "nn.Transformer (2+2 layers, 32 wide), 2 × 9 → 2 × 5",
        lambda: (torch.randn(2, 9, 32), torch.randn(2, 5, 32)),
        dict,
    ),
}


def _case(key: str) -> Callable[[bool], Case]:
    entry_name, label, args, kwargs = _INPUTS[key]

    def make(smoke: bool) -> Case:
        entry = _ZOO[entry_name]
        if not importable(entry.library):
            raise ModuleNotFoundError(f"{entry.library} is not installed (pip install -e '.[real]')")
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = entry.make()
        return Case(key, label, model.eval(), args(), kwargs=kwargs())

    return make


REAL_CASES: dict[str, Callable[[bool], Case]] = {key: _case(key) for key in _INPUTS}
