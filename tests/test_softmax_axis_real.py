"""ST021 on real attention code: Hugging Face models built from tiny configs with eager
attention (the softmax and the product written out), matmul and einsum spellings.

Quiet on each, and not for want of looking: each attention softmax's weights are
followed to the product that sums them, over the dim the softmax normalised."""

from __future__ import annotations

import warnings

import pytest
import torch

import shapetrace
from shapetrace.analyze.checks._dim_call import softmax_dim
from shapetrace.analyze.checks._weights_use import weights_use
from shapetrace.analyze.lineage.flow import analyze

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.filterwarnings("ignore")

_TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 37}

CONFIGS = {
    "gpt2": ("GPT2Config", "GPT2Model", {"n_embd": 32, "n_layer": 1, "n_head": 4, "n_positions": 64}),
    "bert": ("BertConfig", "BertModel", {"max_position_embeddings": 64, **_TINY}),
    "llama": ("LlamaConfig", "LlamaModel", {"num_key_value_heads": 2, "max_position_embeddings": 64, **_TINY}),
    "t5": ("T5Config", "T5EncoderModel", {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 1, "num_heads": 4}),
    "xlnet": ("XLNetConfig", "XLNetModel", {"d_model": 32, "n_layer": 1, "n_head": 4, "d_inner": 37}),
    "funnel": (
        "FunnelConfig",
        "FunnelBaseModel",
        {"d_model": 32, "n_head": 4, "d_head": 8, "d_inner": 37, "block_sizes": [1, 1]},
    ),
}


def traced(name):
    config_name, model_name, kwargs = CONFIGS[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = getattr(transformers, config_name)(vocab_size=99, **kwargs)
        config._attn_implementation = "eager"
        model = getattr(transformers, model_name)(config).eval()
    ids = torch.randint(3, 99, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    with shapetrace.trace(model) as t:
        model(input_ids=ids, attention_mask=mask)
    return t


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_real_attention_is_quiet_and_its_weights_are_followed(name):
    t = traced(name)
    assert [f for f in t.findings if f.code in ("ST019", "ST021")] == []
    flow = analyze(t.calls)
    softmaxes = [(call, got[0]) for call in t.calls if (got := softmax_dim(call)) is not None]
    assert softmaxes
    for call, dim in softmaxes:
        use = weights_use(flow, call)
        assert use is not None and use.summed == (dim,), (call.location, use)
    products = {use.call.name for call, _ in softmaxes if (use := weights_use(flow, call)) is not None}
    assert products == ({"einsum"} if name in ("xlnet", "funnel") else {"matmul"})


@pytest.mark.parametrize("prompt", [1, 4])
def test_gpt2_generate_is_quiet_with_a_first_step_over_one_key(prompt):
    """generate() from a one-token prompt: the first step's scores are (batch, heads, 1, 1),
    a softmax over one key that the product sums, weights all 1 on purpose; later steps
    (and a longer prompt) attend over the cache."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=1, n_head=4, n_positions=64)
        config._attn_implementation = "eager"
        model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(3, 99, (1, prompt))
    with shapetrace.trace(model) as t:
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert t.error is None
    assert [f for f in t.findings if f.code in ("ST019", "ST021")] == []
    keys = [call.inputs[0].shape[-1] for call in t.calls if softmax_dim(call) is not None]
    assert keys == [prompt, prompt + 1, prompt + 2]

