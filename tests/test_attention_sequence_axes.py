"""ST013 on models whose attention is their own code: no layer carries a ``batch_first``,
so the sequence's axes are read off the attention itself (``checks/_sequence_axes.py``):
a Hugging Face encoder's ``last_hidden_state`` pooled as ``hidden[:, :, 0]`` (hidden unit 0
of every token) where ``hidden[:, 0]`` (the [CLS] token) was meant, with tokens == hidden so
that the classifier takes it silently. The variants without transformers are
``tests/cases/variants/st013_q_*`` (``F.scaled_dot_product_attention``) and ``st013_r_*``
(hand-written scores)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import shapetrace
from tests.models.real_models import importable

pytestmark = pytest.mark.skipif(not importable("transformers"), reason="transformers does not import here")


class BertClassifier(nn.Module):
    def __init__(self, pool: str) -> None:
        from transformers import BertConfig, BertModel

        super().__init__()
        self.pool = pool
        config = BertConfig(
            vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
        )
        self.bert = BertModel(config)
        self.head = nn.Linear(32, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        cls = hidden[:, :, 0] if self.pool == "hidden unit" else hidden[:, 0, :]
        return self.head(cls)


def _traced(pool: str) -> tuple[shapetrace.Trace, torch.Tensor]:
    torch.manual_seed(0)
    model = BertClassifier(pool).eval()
    ids = torch.randint(3, 99, (4, 32))  # 32 tokens == 32 hidden: the wrong index fits the head
    mask = torch.ones_like(ids)
    with torch.no_grad(), shapetrace.trace(model) as t:
        out = model(ids, mask)
    return t, out


def test_a_bert_encoders_output_pooled_on_its_hidden_axis_is_st013_with_the_token_index_help():
    t, _ = _traced("hidden unit")
    (found,) = [f for f in t.findings if f.severity == "warning"]
    assert found.code == "ST013"
    assert "takes unit 0 of the 32 features (dim 2) of bert (BertModel)'s output at every position" in found.message
    assert "head (Linear) then reads the positions as its features" in found.message
    assert found.hint == "use hidden[:, 0, :]"


def test_the_help_applied_is_the_cls_token_and_no_finding():
    # the help's expression is the fixed model's: same output, nothing flagged
    helped, out = _traced("token")
    _, wrong = _traced("hidden unit")
    assert [f for f in helped.findings if f.severity in ("warning", "error")] == []
    assert out.shape == wrong.shape == (4, 2) and not torch.equal(out, wrong)


class _LearnedPositions(nn.Embedding):
    """BART's learned positions: its forward reads its input's shape alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length = x.shape[:2]
        return super().forward(torch.arange(length).expand(batch, -1))


class _ShapeOnlyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(99, 32)
        self.embed_positions = _LearnedPositions(64, 32)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        embeds = self.embed_tokens(ids)
        positions = self.embed_positions(embeds[:, :, -1])  # needed for the shape only
        return self.layer(embeds + positions)


def test_an_index_whose_result_a_module_reads_for_its_shape_only_is_not_st013():
    """``self.embed_positions(inputs_embeds[:, :, -1])``, as BART's encoder writes it: the
    positional embedding's forward reads only the shape of what it is given, so which
    unit the index took does not matter: no ST013 (a layer that reads it, as the BERT
    classifier's head above does, still gets one)."""
    torch.manual_seed(0)
    model = _ShapeOnlyEncoder()
    with shapetrace.trace(model) as t:
        model(torch.randint(0, 99, (2, 7)))
    assert [(f.code, f.message) for f in t.findings if f.severity != "info"] == []


def test_bart_forward_is_quiet():
    """BART's encoder and decoder from a tiny config: no finding (ST013 took the encoder's
    ``embed_positions(inputs_embeds[:, :, -1])`` for a pooled feature)."""
    from transformers import BartConfig, BartModel

    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=99,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=64,
    )
    model = BartModel(config).eval()
    with torch.no_grad(), shapetrace.trace(model) as t:
        model(input_ids=torch.randint(3, 99, (2, 32)), decoder_input_ids=torch.randint(3, 99, (2, 5)))
    assert [(f.code, f.message) for f in t.findings if f.severity != "info"] == []
