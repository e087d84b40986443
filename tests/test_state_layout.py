"""ST007 where ST001 explains it (``analyze/checks/_state_layout.py``): an initial state
that does not fit because a layer's ``batch_first`` is wrong needs no edit of its own,
so ST007's help is the layout's fix, not "build the state for each batch"; where the
layout is right, ST007 keeps its own help."""

from __future__ import annotations

import re

import pytest
import torch

from tests.case_support import VARIANTS, case_path, load_file, model_outputs, run_script, serious, traced_module
from tests.check_support import traced
from tests.test_batch_first import _same_outputs

pytestmark = pytest.mark.filterwarnings("ignore")

LAYOUT_EXPLAINS = {
    # batch-first rows into a seq-first GRU; init_hidden(bsz) is right for the data
    "st001_b_batchified_no_transpose_state_raises": ("rnn", "it is made for the data's batch of 4, which this "
                                                     "layer takes as time (ST001 at line 28)"),
    # the encoder left seq-first hands the decoder an h_n made for its step count
    "st001_d_seq2seq_encoder_seq_first_raises": ("decoder.lstm", "encoder.lstm takes the data's time axis "
                                                 "(12 steps) as its batch (ST001 at line 26)"),
}
STATE_WRONG = ["st007_a_gru_state_kept_on_model", "st007_b_seqfirst_lstm_state_per_batch_constant",
               "st007_c_rnn_lm_carried_hidden_equals_batch", "st007_d_bigru_init_hidden_module_attr"]
HELP = re.compile(r"the state follows from the layout: build (?:(\S+) )?with nn\.(\w+)\(\.\.\., "
                  r"batch_first=(True|False)\) \(ST001 at line (\d+)\), and h_0 fits as it is")


def variant(name: str):
    return load_file(VARIANTS / f"{name}.py", f"tests.cases.variants.{name}")


def st007(findings) -> list:
    return [f for f in findings if f.code == "ST007"]


def apply_state_help(source: str, hint: str) -> str:
    """``source`` edited as ST007's help says: the flag of the layer ST001 names, where
    that layer is built (the nearest ``nn.<Type>(...batch_first=...)`` above ST001's line)."""
    found = HELP.fullmatch(hint)
    assert found, hint
    kind, flag, line = found.group(2), found.group(3), int(found.group(4))
    lines = source.splitlines()
    built = max(n for n, text in enumerate(lines[:line]) if f"nn.{kind}(" in text and "batch_first=" in text)
    lines[built] = re.sub(r"batch_first=[^,)]+", f"batch_first={flag}", lines[built])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(LAYOUT_EXPLAINS))
def test_the_state_help_is_the_layout_fix_where_st001_explains(name):
    layer, why = LAYOUT_EXPLAINS[name]
    for findings in (traced_module(variant(name)).findings, run_script(VARIANTS / f"{name}.py").trace.findings):
        [found] = st007(findings)
        assert found.message.startswith(layer) and why in found.message, found.message
        assert HELP.fullmatch(found.hint) and "build the state" not in found.hint, found.hint
        codes = [f.code for f in findings]
        assert codes.index("ST001") < codes.index("ST007")


@pytest.mark.parametrize("name", sorted(LAYOUT_EXPLAINS))
def test_the_state_help_applied_gives_the_fixed_model(name, tmp_path):
    [found] = st007(traced_module(variant(name)).findings)
    patched = tmp_path / f"state_helped_{name}.py"
    patched.write_text(apply_state_help((VARIANTS / f"{name}.py").read_text(), found.hint))
    module = load_file(patched, f"state_helped_{name}")
    got, want = model_outputs(module), model_outputs(variant(name), fixed=True)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        _same_outputs(a, b)
    helped = traced_module(module)
    assert helped.error is None and serious(helped) == [], found.hint


def test_a_state_made_for_the_data_in_forward_follows_the_layout_too():
    from tests.test_cause_rank import StateForTheData

    t = traced((StateForTheData(), (torch.randn(6, 9, 3),)))
    [found] = st007(t.findings)
    assert found.hint == ("the state follows from the layout: build it with nn.LSTM(..., batch_first=True) "
                          "(ST001 at line 46), and h_0 fits as it is")


@pytest.mark.parametrize("name", STATE_WRONG)
def test_where_the_layout_is_right_the_state_keeps_its_own_help(name):
    [found] = st007(traced_module(variant(name)).findings)
    assert "ST001" not in found.message and "follows from the layout" not in found.hint, found.hint


def test_half_of_case_01_fixed_keeps_the_state_help(tmp_path):
    """batch_first=True set but the state still made for the window: the layout is right
    now (no ST001), so ST007's help is the state's own."""
    patched = tmp_path / "case01_half.py"
    patched.write_text(case_path("01").read_text().replace("batch_first=fixed)", "batch_first=True)"))
    [found] = st007(traced_module(load_file(patched)).findings)
    assert "follows from the layout" not in found.hint and "x.size(0)" in found.hint, found.hint
