"""A call's inputs are named as its forward names them, in the table, the tree
and the HTML page, as the graph names its input nodes (``src``, ``tgt``), not
by position (``0``, ``1``): nn.Transformer, a user's forward with a tuple
argument, and pytorch/examples' language_translation Translator (seven inputs)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.record.script import run_script
from tests.case_support import REAL_SCRIPTS
from tests.render_support import plain_text, trace_of


def _rows(text: str, start: str) -> list[str]:
    """The lines of the table row whose Call cell starts with ``start`` (after the
    tree guides), down to the next row."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip(" └─").startswith(start))
    rows = [lines[at]]
    for line in lines[at + 1 :]:
        if line.strip() and not line.startswith(" " * 12):  # a Call cell: the next row
            break
        rows.append(line)
    return rows


def _inputs(text: str, start: str) -> list[str]:
    """The ``name (shape)`` entries in a row's lines, in order."""
    return [m for line in _rows(text, start) for m in re.findall(r"(\S+ \([\d, ]+\))", line)]


@pytest.fixture(scope="module")
def transformer_trace():
    torch.manual_seed(0)
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    with contextlib.redirect_stderr(io.StringIO()):
        return trace_of(model, torch.randn(5, 2, 16), torch.randn(4, 2, 16), ops=False)


def test_transformer_inputs_are_src_and_tgt_then_tgt_and_memory(transformer_trace) -> None:
    text = plain_text(transformer_trace.table(), width=200)
    root = _inputs(text, "Transformer (root)")
    assert root[:2] == ["src (5, 2, 16)", "tgt (4, 2, 16)"]
    assert _inputs(text, "decoder: TransformerDecoder")[:2] == ["tgt (4, 2, 16)", "memory (5, 2, 16)"]
    assert _inputs(text, "decoder.layers.0: TransformerDecoderLayer")[:2] == ["tgt (4, 2, 16)", "memory (5, 2, 16)"]
    assert "0 (5, 2, 16)" not in text and "1 (4, 2, 16)" not in text


def test_tree_and_html_name_them_as_the_table_and_the_graph(transformer_trace) -> None:
    tree = plain_text(transformer_trace.tree(), width=120)
    assert "src (5, 2, 16), tgt (4, 2, 16) → (4, 2, 16)" in tree
    assert "tgt (4, 2, 16), memory (5, 2, 16) → (4, 2, 16)" in tree
    page = transformer_trace.html(graph=False)
    assert "src (5, 2, 16)<br>tgt (4, 2, 16)" in page
    inputs = re.findall(r"\tin_\S+ \[label=(\w+) ", transformer_trace.graph().source)
    assert inputs == ["src", "tgt"]


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.out = nn.Linear(16, 3)

    def forward(self, x, lengths, hx):
        y, _ = self.lstm(x, hx)
        return self.out(y) * lengths[:, None, None]


def test_a_user_forward_names_its_inputs_and_a_tuple_keeps_its_positions(tmp_path) -> None:
    model = Tagger()
    state = (torch.zeros(1, 4, 16), torch.zeros(1, 4, 16))
    t = trace_of(model, torch.randn(4, 5, 8), torch.ones(4), state)
    text = plain_text(t.table(), width=200)
    assert _inputs(text, "Tagger (root)") == ["x (4, 5, 8)", "lengths (4,)", "hx[0] (1, 4, 16)", "hx[1] (1, 4, 16)"]
    assert _inputs(text, "lstm: LSTM")[:4:2] == ["input (4, 5, 8)", "h_0 (1, 4, 16)"]  # PyTorch's names stay
    # the paths in the data are the contract's: positions, unchanged
    assert [m.path for m in t.root.inputs] == ["0", "1", "2.0", "2.1"]
    loaded = shapetrace.load(t.to_json())
    assert plain_text(loaded.table(), width=200) == text


@pytest.mark.slow
def test_translator_names_its_seven_inputs_and_transformer_its_eight() -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run = run_script(str(REAL_SCRIPTS / "language_translation_small.py"))
    text = plain_text(run.trace.table(), width=300)
    # Translator.forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
    # memory_key_padding_mask), called with (9, 5) and (6, 5) tokens
    assert _inputs(text, "Translator (root)") == [
        "src (9, 5)",
        "trg (6, 5)",
        "src_mask (9, 9)",
        "tgt_mask (6, 6)",
        "src_padding_mask (5, 9)",
        "tgt_padding_mask (5, 6)",
        "memory_key_padding_mask (5, 9)",
    ]
    # nn.Transformer.forward's names; memory_mask (position 4) was None
    assert _inputs(text, "transformer: Transformer") == [
        "src (9, 5, 32)",
        "tgt (6, 5, 32)",
        "src_mask (9, 9)",
        "tgt_mask (6, 6)",
        "src_key_padding_mask (5, 9)",
        "tgt_key_padding_mask (5, 6)",
        "memory_key_padding_mask (5, 9)",
    ]
