"""Hugging Face generate() under the tracer, models built from tiny configs: the paths
decoding takes (grouped-query heads packed into the query rows, a cache made in a
pass left out, beam search's batch of beams) give no finding, and the tokens are those
of the untraced run."""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest
import torch

import shapetrace

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.filterwarnings("ignore")

_TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 37}


def test_llama_grouped_query_generate_on_a_padded_batch_is_quiet():
    """A Llama with grouped-query attention (4 heads, 2 key/value heads) decoding a
    left-padded batch with SDPA: each step packs a group's query heads into the query's
    rows, (batch, kv_heads, 2, head_dim), over keys whose dim -2 is the cached tokens. No
    finding (ST026 used to take those rows for heads attended over), and the tokens
    generated are those of the untraced run."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = transformers.LlamaConfig(vocab_size=99, num_key_value_heads=2, max_position_embeddings=64, **_TINY)
        config._attn_implementation = "sdpa"
        model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(3, 99, (2, 6))
    mask = torch.ones_like(ids)
    ids[1, :2], mask[1, :2] = 0, 0  # the shorter prompt, padded on the left
    options = {"attention_mask": mask, "max_new_tokens": 3, "do_sample": False, "pad_token_id": 0}
    plain = model.generate(ids, **options)
    with shapetrace.trace(model) as t:
        traced = model.generate(ids, **options)
    assert t.error is None and torch.equal(plain, traced)
    assert [f for f in t.findings if f.severity != "info"] == [], [(f.code, f.message) for f in t.findings]
    packed = [c for c in t.calls if c.name == "scaled_dot_product_attention" and c.inputs[0].shape[-2] == 2]
    assert packed, "the grouped decode path (query rows = a group's heads) did not run"


OPT_BEAMS = """\
import torch
from transformers import OPTConfig, OPTForCausalLM

torch.manual_seed(0)
config = OPTConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, ffn_dim=64, num_attention_heads=4,
                   word_embed_proj_dim=32, pad_token_id=0, bos_token_id=1, eos_token_id=2)
model = OPTForCausalLM(config).eval()
with torch.no_grad():
    greedy = model.generate(torch.randint(3, 100, (2, 6)), max_new_tokens=2, pad_token_id=0)
    beams = model.generate(torch.randint(3, 100, (1, 4)), max_new_tokens=2, num_beams=3, pad_token_id=0)
print(tuple(greedy.shape), tuple(beams.shape))
"""


def test_beam_search_after_greedy_decoding_under_run_is_quiet(tmp_path):
    """``shapetrace run`` of an OPT decoding a batch of 2, then 1 prompt with 3 beams (a
    batch of 3): the cache's keys, made in passes the run left out, are joined with the
    new keys in transformers' cache code. No ST003: its guess of where such a tensor was
    sized reads the user's own files only (in cache_utils.py it took StaticLayer's
    ``self.keys = torch.zeros((self.batch_size, ...))`` for DynamicLayer's keys)."""
    from shapetrace.record.script import run_script

    script = tmp_path / "opt_beams.py"
    script.write_text(OPT_BEAMS)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        run = run_script(str(script), [])
    assert run.error is None and out.getvalue().startswith("(2, 8) (1, 6)")
    assert [(f.code, f.message) for f in run.trace.findings if f.severity != "info"] == []
