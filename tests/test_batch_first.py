"""ST001 batch-first-mismatch on variants of the class (tests/models/batch_first_models.py):
LSTM/GRU/RNN language models and classifiers, losses over (N, C, T) and (N*T, C), a
DataLoader, through ``shapetrace.trace(model)`` and ``shapetrace run --fail-on warning``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

import shapetrace
from tests.case_support import (
    VARIANTS,
    case_path,
    load_case,
    load_file,
    model_outputs,
    run_script,
    serious,
    traced_case,
    traced_module,
)
from tests.models import batch_first_models as variants

pytestmark = pytest.mark.filterwarnings("ignore")
SCRIPT = Path(variants.__file__)


def traced_variant(name: str, fixed: bool = False) -> shapetrace.Trace:
    model, work = variants.make(name, fixed)
    with shapetrace.trace(model) as t:
        work()
    return t


def run_variant(name: str, fixed: bool = False) -> tuple[int, shapetrace.Trace, str]:
    done = run_script(SCRIPT, name, *(["--fixed"] if fixed else []))
    return done.exit_code, done.trace, done.output


def rnn_line() -> set[int]:
    source = SCRIPT.read_text().splitlines()
    return {n for n, line in enumerate(source, 1) if "= self.rnn(self.emb(tokens))" in line}


def st001(trace: shapetrace.Trace):
    return [f for f in serious(trace) if f.code == "ST001" and f.location is not None
            and f.location.lineno in rnn_line()]


@pytest.mark.parametrize("name", variants.BUGGY)
def test_buggy_variant_is_found_through_the_api(name):
    t = traced_variant(name)
    assert st001(t), [(f.code, f.message) for f in t.findings]


@pytest.mark.parametrize("name", variants.BUGGY)
def test_buggy_variant_is_found_through_the_command(name):
    code, t, output = run_variant(name)
    assert code == 1 and st001(t), output


@pytest.mark.parametrize("name", variants.BUGGY + variants.SILENT)
def test_fixed_variant_is_clean(name):
    assert serious(traced_variant(name, fixed=True)) == []
    code, t, output = run_variant(name, fixed=True)
    assert code == 0 and serious(t) == [], output


@pytest.mark.parametrize("name", variants.CORRECT)
def test_seq_first_on_purpose_is_clean(name):
    assert traced_variant(name).findings == []
    code, t, output = run_variant(name)
    assert code == 0 and t.findings == [], output


def test_the_shift_names_the_time_axis_and_the_loss_adds_to_it():
    [found] = st001(traced_variant("permuted_gru"))
    assert ("seq[:, :-1] and seq[:, 1:] at line 69 cut input and target one step apart along the axis it "
            "takes as the batch: that axis is time") in found.message
    assert "F.cross_entropy" in found.message
    assert "takes dim 0 of its input (8, 50, 5) as the batch (N)" in found.message
    assert found.severity == "error"
    # under run, the ops that made the pass's inputs are recorded (record/before_pass.py): the same reading
    [found] = st001(run_variant("permuted_gru")[1])
    assert ("seq[:, :-1] and seq[:, 1:] at line 69 cut input and target one step apart along the axis it "
            "takes as the batch: that axis is time") in found.message


def test_a_loss_over_class_scores_alone_is_no_evidence():
    """A correct seq-first model handing cross_entropy (T, C, B) and a batch-first model
    left seq-first handing it (B, C, T) are one program by lineage (only the data differ):
    with input and target drawn apart, neither gets a finding, through trace() or run."""
    for name in ("seq_first_time_as_n", "permuted_unshifted"):
        assert traced_variant(name).findings == [], name
        code, t, output = run_variant(name)
        assert code == 0 and t.findings == [], output


def test_rows_merged_by_view_are_no_evidence():
    """(N*T, C) rows hold both axes, as in a seq-first LM: one pass of random tokens
    gives no clue; the same pass with next-token targets does (the shift)."""
    assert serious(traced_variant("merged_unshifted")) == []
    assert st001(traced_variant("merged"))


def test_the_shift_of_word_language_model_is_along_the_axis_its_lstm_steps_through():
    """data[i:i+T] and data[i+1:i+1+T] of the (T, B) batchified data: the axis is dim 0,
    which the seq-first LSTM steps through; the same loop on (B, N) data, along dim 1."""
    from shapetrace.analyze.checks._rnn import first_layouts
    from shapetrace.analyze.checks._shift import axis_key, shifted_axes
    from shapetrace.analyze.lineage.atoms import Atom
    from shapetrace.analyze.lineage.flow import analyze

    for name, axis in (("word_language_model", "time"), ("batchified", "batch")):
        t = traced_variant(name)
        flow = analyze(t.calls)
        shifts = shifted_axes(flow, t.calls)
        lay = next(first_layouts(flow, t.calls))
        # one axis cut outside the model, under each pass's stand-in for it (lineage/given.py)
        outside = {axis_key(flow.outside_axis(Atom(origin, 1, stride))) for origin, stride in shifts}
        assert len(outside) == 1 and axis_key(getattr(lay, axis)[0]) in shifts, name
        assert "cut input and target one step apart along" in next(iter(shifts.values())).text


def test_the_loaders_a_block_iterated_are_in_run_info_and_its_json(tmp_path):
    t = traced_variant("loader_short")
    [loader] = t.run_info["loaders"]
    assert (loader["batch_size"], loader["last_batch"], loader["num_samples"]) == (8, 4, 60)
    (tmp_path / "t.json").write_text(t.to_json())
    loaded = shapetrace.load(tmp_path / "t.json")
    assert loaded.run_info["loaders"] == t.run_info["loaders"] and loaded.findings == t.findings
    message = st001(t)[0].message
    assert "dim 0 of the model input (8, 5) is the batch of the DataLoader at batch_first_models.py" in message


# ------------------------------------------------------------------ the help, applied
def _replace(line: str, old: str, new: str) -> str:
    """``line`` with the expression written ``old`` (as ``ast.unparse`` writes it; read,
    not assigned) replaced by ``new``."""
    indent = len(line) - len(line.lstrip())
    tree = ast.parse(line.strip())
    spans = [(node.col_offset, node.end_col_offset) for node in ast.walk(tree)
             if isinstance(node, ast.expr) and not isinstance(getattr(node, "ctx", None), ast.Store)
             and ast.unparse(node) == old]
    assert spans, (old, line)
    start, end = min(spans)
    return line[:indent + start] + new + line[indent + end:]


def apply_help(path: Path, found, attribute: str) -> str:
    """The source of ``path`` edited as ST001's help says: the flag where the RNN is
    built (``self.ATTRIBUTE = ...`` in that class), then each ``then use NEW in place of OLD at line N``."""
    lines = path.read_text().splitlines()
    first, *rest = found.hint.split("; ")
    flag = re.fullmatch(r"build it with nn\.\w+\(\.\.\., batch_first=(True|False)\)", first)
    assert flag, found.hint
    # In the class whose forward the finding is in: the nearest above that line.
    built = max(n for n, line in enumerate(lines[:found.location.lineno]) if f"self.{attribute} = " in line)
    assert "batch_first=" in lines[built]
    lines[built] = re.sub(r"batch_first=[^,)]+", f"batch_first={flag.group(1)}", lines[built])
    for part in rest:
        edit = re.fullmatch(r"then use (.+) in place of (.+?) at line (\d+)(?: \(.*\))?", part)
        assert edit, part
        number = int(edit.group(3)) - 1
        lines[number] = _replace(lines[number], edit.group(2), edit.group(1))
    return "\n".join(lines) + "\n"


def _same_outputs(got, want):
    got, want = tree_leaves(got), tree_leaves(want)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b)


def test_applied_help_fixes_case_01_state_included(tmp_path):
    """Two edits: batch_first=True where the LSTM is built, and the state made for the
    batch in the call (the report's fix); then the case computes what --fixed does."""
    t = traced_case("01")
    [found] = [f for f in serious(t) if f.code == "ST001"]
    patched = tmp_path / "case01_helped.py"
    patched.write_text(apply_help(case_path("01"), found, "lstm"))
    module = load_file(patched)
    _same_outputs(model_outputs(module), model_outputs(load_case("01"), fixed=True))
    assert serious(traced_module(module)) == [], patched.read_text()


@pytest.mark.parametrize("name", ["follow_up_index", "follow_up_transpose", "permuted_gru", "loader_short", "merged",
                                  "batchified", "dataset_pairs"])
def test_applied_help_fixes_the_variant(name, tmp_path):
    """``out[-1]`` must become ``out[:, -1]``, a transpose back to batch-first must go."""
    [found] = st001(traced_variant(name))
    patched = tmp_path / "helped_models.py"
    patched.write_text(apply_help(SCRIPT, found, "rnn"))
    module = load_file(patched)
    for got, want in zip(_outputs(module, name, False), _outputs(variants, name, True), strict=True):
        _same_outputs(got, want)
    model, work = module.make(name, False)
    with shapetrace.trace(model) as t:
        work()
    assert serious(t) == [], found.hint


def test_a_permute_back_made_to_feed_the_rnn_stays_in_the_applied_help(tmp_path):
    """A Conv1d front end's (B, C, T) permuted to (T, B, C) for an LSTM left batch_first=True, and
    its output permuted back to the batch first: flipping the flag is the whole fix (the flip keeps
    the output in its input's order, so the permute back is still needed). Batch == frames == 12;
    the evidence is the kernel sliding along the axis the LSTM takes as the batch."""
    path = VARIANTS / "st001_v_conv_front_permuted_seq_first_lstm_batch_first.py"
    [found] = [f for f in serious(traced_module(load_file(path))) if f.code == "ST001"]
    assert "slides its kernel along dim 2 of its input (12, 20, 12)" in found.message
    assert found.hint == "build it with nn.LSTM(..., batch_first=False)"
    patched = tmp_path / "helped_tagger.py"
    patched.write_text(apply_help(path, found, "lstm"))
    module = load_file(patched)
    _same_outputs(model_outputs(module), model_outputs(load_file(path), fixed=True))
    assert serious(traced_module(module)) == []


class PerBinLSTM(nn.Module):
    """A speech enhancer's (CRN-style) conv along frequency only, then an LSTM over time per
    frequency bin: (B, C, T, F) laid out as (B * F, T, C). Correct."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=(1, 3), padding=(0, 1))
        self.lstm = nn.LSTM(8, 8, batch_first=True)

    def forward(self, spec):
        h = self.conv(spec)
        b, c, t, f = h.shape
        out, _ = self.lstm(h.permute(0, 3, 2, 1).reshape(b * f, t, c))
        return out


class RowAttention(nn.Module):
    """Attention along each row of a conv map: (B, C, H, W) laid out as (B * H, W, C). Correct."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        h = self.conv(x)
        b, c, height, width = h.shape
        rows = h.permute(0, 2, 3, 1).reshape(b * height, width, c)
        return self.attn(rows, rows, rows)[0]


@pytest.mark.parametrize("model, shape", [(PerBinLSTM, (1, 1, 50, 16)), (PerBinLSTM, (2, 1, 50, 16)),
                                          (RowAttention, (1, 3, 12, 20)), (RowAttention, (2, 3, 12, 20))])
def test_a_kernel_along_what_a_merged_batch_holds_is_no_evidence(model, shape):
    """The batch merged with a slid axis ((B * F, T, C)); at a batch of one the merged dim is that
    axis alone, and the kernel's own batch, of size 1, is nothing to follow: no ST001."""
    torch.manual_seed(0)
    net = model().eval()
    with shapetrace.trace(net) as t:
        net(torch.randn(*shape))
    assert [f for f in t.findings if f.code == "ST001"] == []


def _outputs(module, name: str, fixed: bool) -> list:
    model, work = module.make(name, fixed)
    outputs: list = []
    handle = model.register_forward_hook(lambda _module, _args, out: outputs.append(out))
    try:
        work()
    finally:
        handle.remove()
    return outputs


# ------------------------------------------------------------------ a real script, seq-first on purpose
REAL_LM = Path(__file__).resolve().parent / "real_scripts" / "word_language_model_small.py"


@pytest.mark.parametrize("arguments", [["LSTM"], ["GRU"], ["LSTM", "--train-only"]])
def test_word_language_model_script_gets_no_finding_through_the_command(arguments):
    """Its last window of each epoch is short on the time axis (5 after 7s), as a short
    last batch would be on the batch axis: alone, that is no evidence of a swap."""
    done = run_script(REAL_LM, *arguments)
    t = done.trace
    assert done.exit_code == 0 and serious(t) == [], done.output
    assert len({call.inputs[0].shape for call in t.calls if call.type == "LSTM"}) >= 2 or "GRU" in arguments


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_word_language_model_script_gets_no_finding_through_the_api(rnn_type):
    """Under trace() the slicing is recorded: get_batch's windows are cut along dim 0,
    the axis the seq-first RNN steps through, which agrees."""
    module = load_file(REAL_LM, "wlm_small")
    with shapetrace.trace() as t:
        module.main(rnn_type, evaluate=False)
    assert t.findings == [], [f.message for f in t.findings]
