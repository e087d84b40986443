"""Real models nobody here wrote, built from tiny configs or random init (nothing downloaded).

Each entry of :data:`ZOO` builds ``(model, run)``: the model in eval mode, its
inputs made once with a fixed seed, and ``run(model)`` calling it the way its
users do (``forward``, or ``generate`` for T5). The libraries are optional (the
``real`` extra); :func:`build` raises ``pytest.skip`` when one cannot import,
so a test skips instead of failing where, for example, timm's hard dependency
on a torchvision matching the installed torch is missing.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Run = Callable[[nn.Module], Any]


@dataclass(frozen=True)
class RealModel:
    """One zoo entry: ``library`` is the package it needs (``torch`` for none)."""

    name: str
    library: str
    make: Callable[[], tuple[nn.Module, Run]]
    slow: bool = False


def importable(library: str) -> bool:
    """Whether ``library`` imports here: any exception counts as no (a broken torchvision raises RuntimeError)."""
    if library == "torch":
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(library)
    except Exception:
        return False
    return True


def build(entry: RealModel) -> tuple[nn.Module, Run]:
    """Build ``entry`` with seed 0; skips the calling test when its library cannot import."""
    import pytest

    if not importable(entry.library):
        pytest.skip(f"{entry.library} does not import here (optional: pip install -e '.[real]')")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, run = entry.make()
    return model.eval(), run


def _ids(vocab: int = 99, shape: tuple[int, ...] = (2, 7)) -> torch.Tensor:
    return torch.randint(3, vocab, shape)


# -- Hugging Face transformers -------------------------------------------------------------

_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}


def _causal_lm(config_name: str, model_name: str, **extra: Any) -> Callable[[], tuple[nn.Module, Run]]:
    def make() -> tuple[nn.Module, Run]:
        import transformers

        config = getattr(transformers, config_name)(vocab_size=99, **extra)
        model = getattr(transformers, model_name)(config)
        ids = _ids()
        mask = torch.ones_like(ids)
        mask[1, :2] = 0
        return model, lambda m: m(input_ids=ids, attention_mask=mask, use_cache=False)

    return make


def _gpt2() -> tuple[nn.Module, Run]:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2)
    ids = _ids()
    return GPT2LMHeadModel(config), lambda m: m(input_ids=ids, use_cache=False)


def _bert() -> tuple[nn.Module, Run]:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=99, max_position_embeddings=64, **_TINY)
    ids = _ids()
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    return BertModel(config), lambda m: m(input_ids=ids, attention_mask=mask)


def _t5_generate() -> tuple[nn.Module, Run]:
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    ids = _ids()
    return T5ForConditionalGeneration(config), lambda m: m.generate(
        input_ids=ids, max_new_tokens=4, min_new_tokens=4, do_sample=False
    )


def _whisper() -> tuple[nn.Module, Run]:
    from transformers import WhisperConfig, WhisperModel

    config = WhisperConfig(
        vocab_size=99, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=8,
        max_source_positions=16, max_target_positions=16, pad_token_id=0, decoder_start_token_id=1,
    )
    features = torch.randn(2, 8, 32)  # (batch, mel bins, 2 * max_source_positions frames)
    dec = _ids(shape=(2, 5))
    return WhisperModel(config), lambda m: m(input_features=features, decoder_input_ids=dec, use_cache=False)


def _wav2vec2() -> tuple[nn.Module, Run]:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4, vocab_size=99,
    )
    audio = torch.randn(2, 400)
    return Wav2Vec2Model(config), lambda m: m(audio)


def _hf_vit() -> tuple[nn.Module, Run]:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=32, patch_size=8, num_labels=3, **{**_TINY, "num_hidden_layers": 1})
    images = torch.randn(2, 3, 32, 32)
    return ViTForImageClassification(config), lambda m: m(pixel_values=images)


def _hf_vision(config_name: str, model_name: str, **config: Any) -> Callable[[], tuple[nn.Module, Run]]:
    def make() -> tuple[nn.Module, Run]:
        import transformers

        model = getattr(transformers, model_name)(getattr(transformers, config_name)(**config))
        images = torch.randn(2, 3, 32, 32)
        return model, lambda m: m(pixel_values=images)

    return make


# -- timm: needs a torchvision that imports beside the installed torch ------------------------


def _timm(name: str, **kwargs: Any) -> Callable[[], tuple[nn.Module, Run]]:
    def make() -> tuple[nn.Module, Run]:
        import timm

        model = timm.create_model(name, pretrained=False, num_classes=3, **kwargs)
        images = torch.randn(2, 3, 32, 32)
        return model, lambda m: m(images)

    return make


# -- neuralforecast (LightningModules; forward takes the windows batch dict) ----------------


def _forecaster(model_name: str, **kwargs: Any) -> Callable[[], tuple[nn.Module, Run]]:
    def make() -> tuple[nn.Module, Run]:
        import logging

        logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
        logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
        import neuralforecast.models as nf

        model = getattr(nf, model_name)(h=4, input_size=12, max_steps=1, **kwargs)
        batch = {
            "insample_y": torch.randn(3, 12, 1),
            "insample_mask": torch.ones(3, 12, 1),
            "futr_exog": None,
            "hist_exog": None,
            "stat_exog": None,
        }
        return model, lambda m: m(batch)

    return make


# -- PyTorch's own ------------------------------------------------------------------------------


def _nn_transformer() -> tuple[nn.Module, Run]:
    model = nn.Transformer(
        d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=37, batch_first=True
    )
    src, tgt = torch.randn(2, 9, 32), torch.randn(2, 5, 32)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    return model, lambda m: m(src, tgt, tgt_mask=mask)


_LLAMA = {**_TINY, "num_key_value_heads": 2, "max_position_embeddings": 64}

ZOO: list[RealModel] = [
    RealModel("hf_gpt2", "transformers", _gpt2),
    RealModel("hf_bert", "transformers", _bert),
    RealModel("hf_t5_generate", "transformers", _t5_generate, slow=True),
    RealModel("hf_llama", "transformers", _causal_lm("LlamaConfig", "LlamaForCausalLM", **_LLAMA)),
    RealModel("hf_mistral", "transformers", _causal_lm("MistralConfig", "MistralForCausalLM", **_LLAMA)),
    RealModel("hf_whisper", "transformers", _whisper),
    RealModel("hf_wav2vec2", "transformers", _wav2vec2),
    RealModel("hf_vit", "transformers", _hf_vit),
    RealModel(
        "hf_convnext", "transformers",
        _hf_vision("ConvNextConfig", "ConvNextForImageClassification",
                   num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3),
    ),
    RealModel(
        "hf_swin", "transformers",
        _hf_vision("SwinConfig", "SwinForImageClassification", image_size=32, patch_size=4, embed_dim=8,
                   depths=[1, 1], num_heads=[2, 2], window_size=4, num_labels=3),
    ),
    RealModel("timm_convnext", "timm", _timm("convnext_atto")),
    RealModel("timm_efficientnet", "timm", _timm("efficientnet_b0")),
    RealModel("timm_swin", "timm", _timm("swin_tiny_patch4_window7_224", img_size=32, window_size=4)),
    RealModel("timm_vit", "timm", _timm("vit_tiny_patch16_224", img_size=32, patch_size=8)),
    RealModel("nf_lstm", "neuralforecast", _forecaster("LSTM", encoder_hidden_size=16, decoder_hidden_size=16)),
    RealModel("nf_nhits", "neuralforecast", _forecaster("NHITS", mlp_units=[[16, 16]] * 3)),
    RealModel("nf_tft", "neuralforecast", _forecaster("TFT", hidden_size=16)),
    RealModel("nn_transformer", "torch", _nn_transformer),
]

BY_NAME = {entry.name: entry for entry in ZOO}

# Used only by benchmarks/ (the costliest models under op recording).
EXTRA: list[RealModel] = [
    RealModel(
        "hf_rwkv", "transformers",
        _causal_lm("RwkvConfig", "RwkvForCausalLM", hidden_size=32, num_hidden_layers=2,
                   attention_hidden_size=32, intermediate_size=64, context_length=64),
    ),
    RealModel(
        "hf_mamba", "transformers",
        _causal_lm("MambaConfig", "MambaForCausalLM", hidden_size=32, num_hidden_layers=2, state_size=8),
    ),
    RealModel("nf_gru", "neuralforecast", _forecaster("GRU", encoder_hidden_size=16, decoder_hidden_size=16)),
    RealModel("nf_rnn", "neuralforecast", _forecaster("RNN", encoder_hidden_size=16, decoder_hidden_size=16)),
    RealModel("nf_deepar", "neuralforecast", _forecaster("DeepAR", lstm_hidden_size=16)),
]
