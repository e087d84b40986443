"""No finding on correct real models: Hugging Face architectures built from tiny
configs, each with a head whose loss runs (labels given), traced in train mode
(dropout on, as in training). A trimmed copy of the sweep that found ST002's
relative-shift false positives (XLNet, Funnel, Longformer: tests/test_view_skew.py).

Each model runs once and its trace must hold no finding at all; the count of
traced ops guards against a sweep that quietly traced nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import shapetrace

transformers = pytest.importorskip("transformers")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

_T = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
      "max_position_embeddings": 64}
_KV = {**_T, "num_key_value_heads": 2}

# model type, config sizes, head ("seq": sequence classification, "tok": token
# classification, "lm": causal LM; each with labels, so its loss runs), sequence length
SWEEP: list[tuple[str, dict[str, Any], str, int]] = [
    ("gpt2", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64}, "seq", 7),
    ("gpt_neo", {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "window_size": 4,
                 "attention_types": [[["global", "local"], 1]], "max_position_embeddings": 64}, "lm", 7),
    ("gptj", {"n_embd": 32, "n_layer": 2, "n_head": 4, "rotary_dim": 4, "n_positions": 64}, "lm", 7),
    ("opt", {"hidden_size": 32, "num_hidden_layers": 2, "ffn_dim": 37, "num_attention_heads": 4,
             "word_embed_proj_dim": 32, "max_position_embeddings": 64}, "seq", 7),
    ("bloom", {"hidden_size": 32, "n_layer": 2, "n_head": 4}, "tok", 7),
    ("falcon", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "new_decoder_architecture": True, "num_kv_heads": 2}, "lm", 7),
    ("qwen2", _KV, "seq", 7),
    ("gemma", {**_KV, "head_dim": 8}, "lm", 7),
    ("phi", {**_T, "partial_rotary_factor": 0.5}, "tok", 7),
    ("mixtral", {**_KV, "intermediate_size": 32, "num_local_experts": 4, "num_experts_per_tok": 2}, "lm", 7),
    ("roberta", _T, "tok", 7),
    ("distilbert", {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 64},
     "seq", 7),
    ("albert", {**_T, "embedding_size": 16}, "seq", 7),
    ("electra", _T, "tok", 7),
    ("deberta-v2", {**_T, "relative_attention": True, "pos_att_type": ["p2c", "c2p"],
                    "max_relative_positions": 16}, "seq", 7),
    ("xlnet", {"d_model": 32, "n_layer": 2, "n_head": 4, "d_inner": 37}, "tok", 7),
    ("funnel", {"d_model": 32, "n_head": 4, "d_head": 8, "d_inner": 37, "block_sizes": [1, 1]}, "seq", 8),
    ("longformer", {**_T, "attention_window": 4}, "tok", 8),
    ("big_bird", {**_T, "attention_type": "block_sparse", "block_size": 2, "num_random_blocks": 2}, "seq", 32),
    ("mamba", {"hidden_size": 32, "num_hidden_layers": 2, "state_size": 8}, "lm", 7),
    ("rwkv", {"hidden_size": 32, "num_hidden_layers": 2, "attention_hidden_size": 32, "intermediate_size": 64,
              "context_length": 64}, "lm", 7),
]

_HEADS = {"seq": "AutoModelForSequenceClassification", "tok": "AutoModelForTokenClassification",
          "lm": "AutoModelForCausalLM"}


@pytest.mark.parametrize("model_type, sizes, head, length", SWEEP, ids=[entry[0] for entry in SWEEP])
def test_a_real_model_with_its_loss_has_no_finding(model_type, sizes, head, length):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = transformers.AutoConfig.for_model(model_type, vocab_size=99, num_labels=3, pad_token_id=0, **sizes)
        model = getattr(transformers, _HEADS[head]).from_config(config).train()
    ids = torch.randint(3, 99, (2, length))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    labels = {"seq": torch.tensor([0, 2]), "tok": torch.randint(0, 3, (2, length)), "lm": ids}[head]
    with shapetrace.trace(model) as t:
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    assert t.error is None and out.loss is not None
    assert sum(1 for call in t.calls if call.kind == "op") > 20
    assert t.findings == [], [f"{f.code} {f.message}" for f in t.findings]
