"""Re-written variants of the public-report bug classes (``tests/cases/variants/``).

The handed cases (``tests/cases/``) are one example each; these are the same classes
as other users hit them: other sizes (time == hidden, heads == batch), other layers
(GRU/RNN/LSTM, cells, Conv1d/2d/3d, attention), other spellings (``reshape``,
``unflatten``, ``select``, ``narrow``, ``x[..., -1]``, ``torch.squeeze(x)`` and
``x.squeeze()``, module and functional losses). Each file has the case interface
(``make(fixed) -> (model, work)``, ``--fixed`` on its command line; the plain work
loops come from ``variants/variant_work.py``) and marks its culprit line with
``# culprit``; its name starts with the code that names the class.

Through ``trace(model)`` and ``shapetrace run --fail-on warning``: the buggy version
gets a warning/error finding of its class on the culprit line, the fixed version none.
The ``help:`` of each view/axis finding is applied (the culprit expression rewritten
as the help says): the model then computes what the fixed version does, with no
finding left.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shapetrace
from shapetrace.cli.exit_codes import EXIT_FINDINGS, EXIT_RAISED
from tests.case_support import VARIANTS, load_file, model_outputs, run_script, serious, traced_module
from tests.test_cases_axes import _expression, _same, _span

pytestmark = pytest.mark.filterwarnings("ignore")

NAMES = sorted(path.stem for path in VARIANTS.glob("st*.py"))  # not variant_work.py
# A view that reorders axes is ST002 when the sizes are a shuffle, ST012 when it also
# merges or splits: either names the class "a view where a permute was meant".
CODES = {"st002": {"ST002", "ST012"}, "st012": {"ST012", "ST002"}}
# Classes whose help is an expression to put in place of the culprit op ("use EXPR").
# A tensor built for one batch size is fixed where it is made, not at the op: its help is
# applied in tests/test_baked_batch_tensors.py.
HELP_APPLIED_ELSEWHERE = {"st002_q_einops_heads_merged_batch_major_split_heads_major",  # tests/test_einops_patterns.py
                          "st003_e_buffer_zeros_batch_added_raises", "st003_f_global_start_token_cat_raises",
                          "st003_h_mask_buffer_full_batches_silent", "st003_i_offset_parameter_broadcasts_batch_of_one"}
HINTED = [name for name in NAMES if name[:5] in ("st002", "st003", "st012", "st013", "st014", "st019", "st021", "st025",
                                                 "st027", "st028", "st029")
          and name not in HELP_APPLIED_ELSEWHERE] + ["st001_q_grucell_loop_over_loader_batch_equal_sizes"]
# Variants not diagnosed yet (strict: a fix flips them to passing, and the mark must go).
MISSED: dict[str, str] = {
    # fields 4 == heads 4: the view keeps memory order; only an attribute's name (self.num_heads)
    # and a parameter (batch_size) say otherwise, and neither names an axis of the data
    "st012_i_autoint_fields_split_equal_heads": "fields == heads: the view's sizes fit the wrong reading",
    # a cell has no batch_first: the loop `for t in range(x.size(0)): cell(x[t], h)` on (B, T, F) data
    # is a cell batching over time with a state sized to fit; no layer records a layout to judge
    "st001_p_grucell_loop_over_batch_axis_raises": "a cell loop over the batch axis: no layout recorded",
}
HINT_MISSED = {
    **MISSED,
    # the fix is two lines: the view AND the Linear's in_features (sized for the folded batch)
    "st003_b_view_folds_batch_into_features": "the help rewrites the view only; the Linear was sized to match",
    # ST003's help is "read the batch size from the data ... and use it instead of BATCH", not one
    # expression: applied in tests/test_rnn_final_state.py
    "st003_d_lstmcell_loop_state_batch_constant_raises": "the help names a value to use in place of a constant",
    # index_select keeps the picked dim: its squeeze after it changes too, as the help says
    # ("then squeeze dim 1, not dim 2"); tests/test_index_wrong_axis.py applies both edits
    "st013_p_gru_index_select_last_unit": "two edits: the index's dim and the squeeze after it",
    # gather keeps the dim it picks along too: its help names the squeeze (applied below)
    "st013_s_gru_gather_hidden_axis_last_valid": "two edits: the gather's dim and index, and the squeeze",
    "st013_t_gru_gather_inline_index_hidden_axis": "two edits: the gather's dim and index, and the squeeze",
}
# Found through trace() only (none now: `shapetrace run` records no op in the user's own
# loop, but st003_a's view is told by the model input's sizes, analyze/checks/_loop_input.py).
RUN_UNSEEN: set[str] = set()


def marked(names, missed):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=missed[n])) if n in missed else n
            for n in names]


def path_of(name: str) -> Path:
    return VARIANTS / f"{name}.py"


def codes_of(name: str) -> set[str]:
    return CODES.get(name[:5], {name[:5].upper()})


def culprit(name: str) -> int:
    lines = [n for n, line in enumerate(path_of(name).read_text().splitlines(), 1)
             if line.rstrip().endswith("# culprit")]
    assert len(lines) == 1, name
    return lines[0]


def on_culprit(findings, name: str) -> list:
    path = path_of(name).resolve()
    return [f for f in serious_of(findings) if f.code in codes_of(name) and f.location is not None
            and f.location.lineno == culprit(name) and Path(f.location.filename).resolve() == path]


def serious_of(findings) -> list:
    return [f for f in findings if f.severity in ("warning", "error")]


def module(name: str):
    return load_file(path_of(name), f"tests.cases.variants.{name}")


def run(name: str, fixed: bool = False) -> tuple[int, shapetrace.Trace, str]:
    done = run_script(path_of(name), *(["--fixed"] if fixed else []))
    return done.exit_code, done.trace, done.output


@pytest.mark.parametrize("name", marked(NAMES, MISSED))
def test_buggy_variant_is_found_on_its_culprit_line(name):
    t = traced_module(module(name))
    assert on_culprit(t.findings, name), [(f.code, f.location.lineno, f.message) for f in t.findings]
    code, trace, output = run(name)
    # exit 1 either way: PyTorch raised (as python exits), or a finding reached --fail-on
    assert code == (EXIT_RAISED if trace.error is not None else EXIT_FINDINGS), (code, output)
    if name in RUN_UNSEEN:
        assert trace.error is not None and not on_culprit(trace.findings, name), output
        return
    assert on_culprit(trace.findings, name), output


@pytest.mark.parametrize("name", NAMES)
def test_fixed_variant_is_clean(name):
    t = traced_module(module(name), fixed=True)
    assert t.error is None and serious(t) == [], [(f.code, f.message) for f in t.findings]
    code, trace, output = run(name, fixed=True)
    assert code == 0 and serious(trace) == [], output


@pytest.mark.parametrize("name", marked(HINTED, HINT_MISSED))
def test_applied_help_gives_the_fixed_model_and_no_finding(name, tmp_path):
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    source = path_of(name).read_text().splitlines()
    line = culprit(name) - 1
    start, end = _span(source[line], t, found)
    source[line] = source[line][:start] + _expression(found.hint) + source[line][end:]
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    rewritten = load_file(patched, f"patched_{name}")
    got, want = model_outputs(rewritten), model_outputs(module(name), fixed=True)
    assert len(got) == len(want), source[line]
    for a, b in zip(got, want):
        _same(a, b)
    assert serious(traced_module(rewritten)) == [], source[line]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("st013_p_gru_index_select_last_unit", "use torch.index_select(out, 1, last): then squeeze dim 1, not dim 2"),
        (
            "st013_s_gru_gather_hidden_axis_last_valid",
            "use out.gather(1, idx[:, :1].expand(-1, -1, out.size(2))): then squeeze dim 1, not dim 2",
        ),
        (
            "st013_t_gru_gather_inline_index_hidden_axis",
            "use out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))): "
            "then squeeze dim 1, not dim 2",
        ),
    ],
)
def test_a_help_that_keeps_the_picked_dim_applied_with_the_squeeze_it_names(name, hint, tmp_path):
    """ST013 on ``torch.index_select(out, 2, last).squeeze(2)`` and on
    ``out.gather(2, idx).squeeze(2)``: both keep the picked dim, so the help names both
    edits: the op's dim (and, for gather, the index: the step of each sample, spread over
    the features), and the squeeze after it."""
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    assert found.hint == hint
    wanted, wrong = re.search(r"then squeeze dim (\d+), not dim (\d+)$", found.hint).groups()
    source = path_of(name).read_text().splitlines()
    line = culprit(name) - 1
    start, end = _span(source[line], t, found)
    patched_line = source[line][:start] + _expression(found.hint.split(": then")[0]) + source[line][end:]
    source[line] = patched_line.replace(f".squeeze({wrong})", f".squeeze({wanted})")
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    rewritten = load_file(patched, f"patched_{name}")
    for a, b in zip(model_outputs(rewritten), model_outputs(module(name), fixed=True), strict=True):
        _same(a, b)
    assert serious(traced_module(rewritten)) == [], source[line]


@pytest.mark.parametrize(
    "name",
    [
        "st005_s_smooth_l1_depth_target_channels_last",
        "st005_t_l1_mask_target_channels_last_raises",
        "st005_x_bce_one_hot_target_classes_last_raises",
        "st005_z_bce_one_hot_target_classes_last_equal_sizes",
    ],
)
def test_a_channels_last_target_help_applied_gives_the_fixed_loss(name, tmp_path):
    """ST005 on a target stored channels-last, (B, H, W, 1) against a (B, 1, H, W)
    prediction: its help ("use T.permute(0, 3, 1, 2) as the target") put in place of the
    target argument computes the fixed version's loss, with no finding left."""
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    expression = re.fullmatch(r"use (\w+)\.permute\(([\d, ]+)\) as the target", found.hint)
    assert expression is not None, found.hint
    target = expression.group(1)
    rewritten = _culprit_replaced(name, f", {target})", f", {found.hint[4:-len(' as the target')]})", tmp_path)
    _gives_the_fixed_loss(name, rewritten)


# The RNN ones (the attention ones apply their help in tests/test_attention_layout.py).
ST001_NAMES = ["st001_a_lm_one_pass_shifted_view", "st001_b_batchified_no_transpose_state_raises",
               "st001_c_char_rnn_dataset_pairs", "st001_d_seq2seq_encoder_seq_first_raises",
               "st001_e_forecaster_next_step_windows", "st001_j_mnist_rows_gru_batch_first_commented",
               "st001_l_video_frames_stacked_lstm_h_n_raises", "st001_m_seqfirst_lstm_hand_sliced_windows",
               "st001_n_seqfirst_gru_hand_batches_h_n_raises", "st001_o_seqfirst_rnn_hand_batches_state_fits_raises",
               "st001_k_vqa_question_gru_equal_sizes"]


@pytest.mark.parametrize("name", ST001_NAMES)
def test_applied_batch_first_help_gives_the_fixed_model_and_no_finding(name, tmp_path):
    """ST001's help (the flag where the RNN is built, then each follow-up edit) applied
    to the source: the model computes what the fixed version does, with no finding left,
    and the run does not raise where the buggy one did."""
    from tests.test_batch_first import _same_outputs, apply_help

    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    attribute = found.message.split(" ")[0].rpartition(".")[2]
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text(apply_help(path_of(name), found, attribute))
    rewritten = load_file(patched, f"patched_{name}")
    got, want = model_outputs(rewritten), model_outputs(module(name), fixed=True)
    assert len(got) == len(want) > 0, found.hint
    for a, b in zip(got, want):
        _same_outputs(a, b)
    helped = traced_module(rewritten)
    assert helped.error is None and serious(helped) == [], found.hint


def test_a_wrong_layout_seq2seq_note_names_the_layout_fix_first():
    """The decoder raises on the encoder's state; the note's first "explained by" is the
    decoder's ST007, which explains the rejected h_0 from the encoder's layout and whose help
    is the layout fix, then the encoder's ST001 itself; the findings list keeps the cause
    first (its fix makes the decoder's ST007 go away)."""
    code, trace, output = run("st001_d_seq2seq_encoder_seq_first_raises")
    assert code == EXIT_RAISED and trace.error is not None
    explained = output.split("explained by:")[1]
    assert explained.index("ST007") < explained.index("ST001 batch-first-mismatch: encoder.lstm")
    first_help = explained.split("help: ", 1)[1].splitlines()[0]
    assert "build encoder.lstm with nn.LSTM(..., batch_first=True)" in first_help, first_help
    assert [f.code for f in trace.findings] == ["ST001", "ST007"]
    assert "its state goes on to decoder.lstm (LSTM, batch_first=True) at line 38" in trace.findings[0].message
    assert trace.findings[0].hint == "build it with nn.LSTM(..., batch_first=True)"


# ------------------------------------------------------------------ the lineage beneath
def test_a_view_that_splits_an_axis_and_merges_a_piece_with_its_neighbour_is_no_reordering():
    """``(T, B, E).view(T, B * H, D)`` (nn.MultiheadAttention's own heads split) keeps
    memory order: E splits into H, D and B merges with H. Unlike a splice (sizes that
    cut an axis unevenly) or a size that names another axis of the block."""
    from shapetrace.analyze.lineage.atoms import Atom, regroup

    T, B, E = Atom("T", 6), Atom("B", 2), Atom("E", 12)
    grouped = regroup(((T,), (B,), (E,)), (6, 6, 4), "v")
    assert grouped.mixed == ()
    assert grouped.lineage == ((T,), (B, Atom("E", 3, 4)), (Atom("E", 4, 1),))
    # back to (T, B, E): the pieces of E join again
    assert regroup(grouped.lineage, (6, 2, 12), "w").lineage == ((T,), (B,), (E,))
    # (T, B, F) with T = 10, B = 5 viewed as (B, -1): the 5 in front is the batch, written
    T, B, F = Atom("T", 10), Atom("B", 5), Atom("F", 6)
    assert regroup(((T,), (B,), (F,)), (5, 60), "v").mixed
    # heads spliced into time: (B * H, L, D).view(B, L, H * D)
    B, H, L, D = Atom("B", 2), Atom("H", 4), Atom("L", 5), Atom("D", 6)
    assert regroup(((B, H), (L,), (D,)), (2, 5, 24), "v").mixed


def test_a_lone_batch_of_one_is_told_by_the_layer_that_defines_n():
    """One pass of one image: dim 0 of the pooled (1, C, 1, 1) is the N of the
    AdaptiveAvgPool2d, so a bare squeeze() drops the batch (ST014, help applied in
    st014_c). An unbatched (C, H, W) convolution defines no N: its leading 1 is a
    channel, and squeezing it is no finding; nor is a batch of two."""
    import torch
    from torch import nn

    from tests.check_support import traced

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.pool(torch.relu(self.conv(x))).squeeze()

    batched = traced((Head(), (torch.randn(1, 3, 8, 8),)))
    (found,) = [f for f in batched.findings if f.code == "ST014"]
    assert "the N of pool (AdaptiveAvgPool2d) (1, 1, 8, 8)" in found.message
    assert found.hint == "use self.pool(torch.relu(self.conv(x))).squeeze((1, 2, 3))"
    assert [f for f in traced((Head(), (torch.randn(2, 3, 8, 8),))).findings if f.code == "ST014"] == []

    class Unbatched(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):  # (3, H, W): PyTorch's unbatched input
            return self.conv(x).squeeze()

    assert [f for f in traced((Unbatched(), (torch.randn(3, 8, 8),))).findings if f.code == "ST014"] == []


def test_names_given_to_a_tensors_dims_raise_nothing_where_the_view_agrees_or_the_name_moved():
    """The names of ``B, C, H, W = f.shape`` make ST012 only when a view of that same
    tensor puts other axes where the names say: a view that agrees, a view of a
    tensor the name no longer holds (reassigned after the unpacking), and a size
    the unpacking did not name (``-1``, an attribute) are no finding."""
    import torch
    from torch import nn

    from tests.check_support import traced

    class Agrees(nn.Module):
        def forward(self, f):
            B, C, H, W = f.shape
            return f.view(B, C, H * W).transpose(1, 2).reshape(B, H * W, C) + f.reshape(B, -1)[:, :1].unsqueeze(-1)

    class Moved(nn.Module):
        def __init__(self):
            super().__init__()
            self.h = 4

        def forward(self, f):
            B, C, H, W = f.shape
            f = f.permute(0, 2, 3, 1)  # (B, H, W, C): the names now lie about positions
            tokens = f.reshape(B, H * W, C)
            return tokens.view(B, self.h // 2, H * W // (self.h // 2), C)

    assert traced((Agrees(), (torch.randn(2, 16, 4, 4),))).findings == []  # C == H * W
    # C == H == W: the permuted tensor's sizes fit the stale names, its axes do not
    assert traced((Moved(), (torch.randn(3, 2, 2, 2),))).findings == []


def test_a_batch_of_one_through_linear_layers_is_told_by_the_loader_that_stacked_it():
    """A DataLoader with batch_size=1 iterated inside the trace block: dim 0 of the model
    input is its batch, and a bare squeeze() in forward whose dim 0 is, position by
    position, that dim (Linear, softmax, a transpose(1, 2), bmm) drops it (ST014,
    st014_d). The same squeeze of a learned (1, 1, 5) token, or the user's own loop
    squeezing what the model returned, is no finding."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Pool(nn.Module):
        def __init__(self, token=False):
            super().__init__()
            self.token = token
            self.score = nn.Linear(5, 1)
            self.query = nn.Parameter(torch.randn(1, 1, 5))

        def forward(self, h):  # (batch, items, 5)
            if self.token:
                return self.query.squeeze() + h.mean(dim=(0, 1))
            w = torch.softmax(self.score(h), dim=1)
            return torch.bmm(w.transpose(1, 2), h).squeeze()

    def findings(model, squeeze_outside=False):
        loader = DataLoader(TensorDataset(torch.randn(2, 3, 5)), batch_size=1)
        with shapetrace.trace(model) as t:
            for (h,) in loader:
                out = model(h)
                if squeeze_outside:
                    out.squeeze()
        return [f for f in t.findings if f.code == "ST014"]

    (found,) = findings(Pool())
    assert "dim 0 of the model input (1, 3, 5), stacked by the DataLoader" in found.message
    assert found.hint == "use torch.bmm(w.transpose(1, 2), h).squeeze((1,))"
    assert findings(Pool(token=True)) == []

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 1)

        def forward(self, h):
            return self.fc(h)

    assert findings(Plain(), squeeze_outside=True) == []


def test_correct_reads_of_a_sequence_and_loop_views_stay_clean():
    """What st013_g/h/i and st003_a are not: a batch_first encoder's [CLS] ``x[:, 0]``,
    a seq-first LSTM's ``out[-1]`` and token-level logits handed to the loss as
    ``(N, C, T)``, each into cross_entropy; a loop view ``images.view(-1, 784)`` and
    ``images.view(images.size(0), -1)`` on a short last batch. No finding."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Cls(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
            self.head = nn.Linear(8, 3)

        def forward(self, x):  # (batch, positions, 8)
            return self.head(self.encoder(x)[:, 0])

    class SeqFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6)
            self.head = nn.Linear(6, 3)

        def forward(self, x):  # (time, batch, 4)
            out, _ = self.lstm(x)
            return self.head(out[-1]), self.head(out).permute(1, 2, 0)  # (N, C), (N, C, T)

    def clean(model, inputs, target):
        with shapetrace.trace(model) as t:
            outs = model(*inputs)
            for out in outs if isinstance(outs, tuple) else (outs,):
                nn.functional.cross_entropy(out, target if out.ndim == 2 else target[:, None].expand(-1, out.shape[-1]))
        return [(f.code, f.message) for f in serious_of(t.findings)]

    assert clean(Cls(), (torch.randn(4, 6, 8),), torch.randint(0, 3, (4,))) == []
    assert clean(SeqFirst(), (torch.randn(7, 5, 4),), torch.randint(0, 3, (5,))) == []

    model = nn.Linear(784, 10)
    loader = DataLoader(TensorDataset(torch.randn(10, 1, 28, 28)), batch_size=4)
    with shapetrace.trace(model) as t:
        for (images,) in loader:
            model(images.view(-1, 784))
            model(images.view(images.size(0), -1))
    assert serious_of(t.findings) == []


def test_an_index_of_the_one_hidden_unit_into_an_elementwise_loss_is_no_wrong_axis():
    """A per-step forecaster with hidden_size=1 returns ``out[..., 0]`` (batch, time)
    to an MSE loss: the index only drops a size-1 axis, and an element-wise loss
    reads no features (unlike st013_g's class loss). No ST013."""
    import torch
    from torch import nn

    class PerStep(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.lstm = nn.LSTM(3, hidden, batch_first=True)

        def forward(self, x):
            out, _ = self.lstm(x)
            return out[..., 0]

    for hidden in (1, 4):
        model = PerStep(hidden)
        with shapetrace.trace(model) as t:
            nn.MSELoss()(model(torch.randn(2, 5, 3)), torch.randn(2, 5))
        assert [f for f in t.findings if f.code == "ST013"] == [], hidden


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("st001")])
def test_no_layout_advice_where_the_layout_is_right(name):
    """A model whose layout matches its data gets no ST001 warning/error, whatever its
    bug: an index on the batch axis that a class loss then reads as its N (the target
    having a row per sample of the layer's batch) is the index's fault (ST013), and
    "set batch_first=True" there would make a second bug."""
    t = traced_module(module(name))
    assert [f.message for f in serious_of(t.findings) if f.code == "ST001"] == []


def test_a_view_that_folds_a_batch_into_one_row_is_found_before_it_fails_and_its_help_fixes_it(tmp_path):
    """st003_b's ``x.view(-1, 4 * 8 * 2 * 6 * 6)``: on full batches of 4 (no short
    batch, nothing raises) the view makes ONE row of the batch; ST003 says so (the
    DataLoader tells dim 0 is the batch) with the per-sample size. Its help, applied
    with the Linear resized as it says, gives the fixed model. An unbatched (T, F)
    window viewed as one row, even with a DataLoader about, is no finding."""
    import re

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    name = "st003_b_view_folds_batch_into_features"
    variant = module(name)
    model = variant.Net()
    loader = DataLoader(TensorDataset(torch.randn(8, 1, 4, 12, 12), torch.rand(8, 5)), batch_size=4)
    with shapetrace.trace(model) as t:
        for x, y in loader:
            nn.functional.mse_loss(model(x), y)
    (found,) = [f for f in t.findings if f.code == "ST003"]
    assert found.severity == "warning" and found.location.lineno == culprit(name)
    assert "is 4 samples of 576 values" in found.message
    source = path_of(name).read_text().splitlines()
    line = culprit(name) - 1
    source[line] = source[line].replace("x.view(-1, 4 * 8 * 2 * 6 * 6)", _expression(found.hint))
    per_sample = re.search(r"for (\d+) values", found.hint).group(1)
    source = [s.replace("BATCH * 8 * 2 * 6 * 6", per_sample) for s in source]
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    got, want = model_outputs(load_file(patched, f"patched_{name}")), model_outputs(variant, fixed=True)
    for a, b in zip(got, want, strict=True):
        _same(a, b)

    class Window(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(30 * 5, 1)

        def forward(self, w):  # (30, 5): one window, unbatched
            return self.fc(w.view(-1, 30 * 5))

    window = Window()
    with shapetrace.trace(window) as t:
        for (w,) in DataLoader(TensorDataset(torch.randn(6, 30, 5)), batch_size=2):
            window(w[0])
    assert serious_of(t.findings) == []


@pytest.mark.parametrize("name", marked([n for n in NAMES if n not in RUN_UNSEEN], {
    n: reason for n, reason in MISSED.items() if n.endswith("_raises")}))
def test_a_loud_variant_note_is_explained_by_its_class_on_the_culprit_line(name):
    """Where PyTorch raises (on the culprit line or lines later: the loss that reads
    the LSTM's batch axis, the expand after a squeeze), the note's "explained by"
    names the variant's class at its culprit line, not only the call that raised."""
    _, trace, output = run(name)
    if trace.error is None:
        return  # a silent variant: test_buggy_variant_is_found_on_its_culprit_line
    assert "explained by:" in output, output
    explained = output.split("explained by:")[1].split("also found:")[0]
    assert any(line.lstrip().startswith(tuple(codes_of(name))) and f"line {culprit(name)}" in line
               for line in explained.splitlines()), output


def _culprit_replaced(name: str, written: str, replacement: str, tmp_path):
    """The variant with ``written`` on its culprit line replaced by ``replacement``, loaded."""
    source = path_of(name).read_text().splitlines()
    line = culprit(name) - 1
    assert written in source[line], (written, source[line])
    source[line] = source[line].replace(written, replacement, 1)
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text("\n".join(source) + "\n")
    return load_file(patched, f"patched_{name}")


def _gives_the_fixed_loss(name: str, rewritten) -> None:
    """The rewritten variant prints the fixed version's loss, and its trace has no finding left."""
    assert _printed(rewritten) == _printed(module(name), fixed=True)
    helped = traced_module(rewritten)
    assert helped.error is None and serious(helped) == [], helped.findings


def _printed(module, fixed: bool = False) -> str:
    import contextlib
    import io

    _, work = module.make(fixed)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        work()
    return out.getvalue()


def test_a_binary_cross_entropy_on_other_shapes_is_told_as_refused_and_its_help_gives_the_fixed_loss(tmp_path):
    """st005_g: BCEWithLogitsLoss on (8,) logits and a (8, 1) target raises rather
    than broadcasting; ST005 says PyTorch takes only equal shapes there, and its
    help (the target squeezed), applied, gives the fixed version's loss."""
    name = "st005_g_bce_logits_squeezed_column_target_raises"
    t = traced_module(module(name))
    (found,) = on_culprit(t.findings, name)
    assert "takes only equal shapes (PyTorch raises)" in found.message
    target = re.match(r"use (.+?) as the target", found.hint).group(1)
    written = "criterion(model(tokens), labels)"
    rewritten = _culprit_replaced(name, written, f"criterion(model(tokens), {target})", tmp_path)
    assert _printed(rewritten) == _printed(module(name), fixed=True)


def test_the_loss_resolution_help_names_the_operands_of_its_own_loss_on_a_line_of_two(tmp_path):
    """st016_e adds two F.binary_cross_entropy calls on one line; the second raises.
    ST016's help names that call's operands (``branch``, ``branch_label``), not the
    first call's, and upsampling the prediction as it says makes the step run clean."""
    name = "st016_e_deep_supervision_branch_bce_raises"
    t = traced_module(module(name))
    (found,) = on_culprit(t.findings, name)
    assert "F.interpolate(branch_label, size=(8, 8))" in found.hint
    upsampled = re.search(r"upsample the prediction: (.+)$", found.hint).group(1)
    assert upsampled == "F.interpolate(branch, scale_factor=4)"
    rewritten = _culprit_replaced(
        name, "F.binary_cross_entropy(branch,", f"F.binary_cross_entropy({upsampled},", tmp_path
    )
    helped = traced_module(rewritten)
    assert helped.error is None and serious(helped) == []


def test_names_of_the_inputs_axes_in_another_tensors_view_raise_nothing_where_they_agree_or_name_no_axis_of_it():
    """st012_j's check (``values.reshape(batch_size, seq_len, ...)`` where values holds
    seq_len as dim 2): the same names on the permuted values agree (no finding), and a
    name reused for the size of an axis the tensor does not hold (a memory of S == L
    steps viewed with L) says nothing about it."""
    import torch
    from torch import nn

    from tests.check_support import traced

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x, memory):  # (B, L, 8), (B, S, 8) with S == L
            batch_size, seq_len, _ = x.shape
            keys = self.proj(memory).view(batch_size, seq_len, 2, 4).permute(0, 2, 1, 3)
            queries = x.view(batch_size, seq_len, 2, 4).permute(0, 2, 1, 3)
            values = torch.softmax(queries @ keys.transpose(-2, -1), dim=-1) @ keys
            return values.permute(0, 2, 1, 3).reshape(batch_size, seq_len, 8)

    found = traced((Cross(), (torch.randn(3, 4, 8), torch.randn(3, 4, 8)))).findings
    assert [f for f in found if f.code == "ST012"] == []


def test_an_index_of_a_hidden_unit_normalized_over_time_is_found_and_weights_over_steps_are_not():
    """st013_k's ``F.normalize(out[..., -1], dim=1)`` makes unit vectors of the last
    hidden unit over the steps (ST013, help ``out[:, -1, :]``). Attention weights
    over the steps, a Linear(hidden, 1)'s ``[..., 0]`` L1-normalized along time, are
    meant per step: no finding; nor is the last step normalized along its features."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from tests.check_support import traced

    name = "st013_k_speaker_embedding_ellipsis_last_unit"
    (found,) = on_culprit(traced_module(module(name)).findings, name)
    assert "F.normalize then reads the time steps" in found.message and found.hint == "use out[:, -1, :]"

    class Pool(nn.Module):
        def __init__(self, last):
            super().__init__()
            self.last = last
            self.gru = nn.GRU(5, 6, batch_first=True)
            self.score = nn.Linear(6, 1)

        def forward(self, x):
            out, _ = self.gru(x)
            if self.last:
                return F.normalize(out[:, -1], dim=1)
            weights = F.normalize(torch.relu(self.score(out))[..., 0], p=1, dim=1)  # (batch, steps)
            return (weights.unsqueeze(-1) * out).sum(1)

    for last in (False, True):
        assert [f for f in traced((Pool(last), (torch.randn(4, 6, 5),))).findings if f.code == "ST013"] == []


@pytest.mark.parametrize(
    "name, written",
    [
        ("st005_u_depth_target_unsqueezed_in_front_silog_loader", "depth.unsqueeze(0)"),
        ("st005_v_l1_module_mask_unsqueezed_in_front_loader", "mask.unsqueeze(0)"),
        ("st005_w_mse_written_out_target_row_view_loader", "pred - y"),
        ("st005_y_collate_stacks_multilabel_targets_on_dim_1", "torch.stack(labels, dim=1)"),
    ],
)
def test_a_loss_meeting_one_loader_batch_with_itself_has_a_help_that_gives_the_fixed_loss(name, written, tmp_path):
    """ST005 where the loop moved the target's batch off dim 0 of what the DataLoader
    yielded ((1, B, H, W) against a (B, 1, H, W) prediction): the help ("use
    depth.unsqueeze(1)", or the target's batch moved back at the comparison) put in place
    of what the culprit line wrote computes the fixed version's loss, with no finding left."""
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    assert "the same DataLoader batch" not in found.message and "one DataLoader batch" in found.message
    expression = re.fullmatch(r"use (.+?): .*", found.hint)
    assert expression is not None, found.hint
    _gives_the_fixed_loss(name, _culprit_replaced(name, written, expression.group(1), tmp_path))


def test_a_target_resized_by_the_wrong_scale_factor_has_a_help_that_gives_the_fixed_loss(tmp_path):
    """ST016 where the loop resized the labels with F.interpolate by 1/2 for logits at 1/4:
    placed at that resize, its help (the scale factor that fits) put in place of the one
    written computes the fixed version's loss, with no finding left."""
    name = "st016_i_labels_interpolated_by_half_for_quarter_logits_raises"
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    expression = re.fullmatch(r"use scale_factor=([\d.]+): .*", found.hint)
    assert expression is not None, found.hint
    rewritten = _culprit_replaced(name, "scale_factor=scale", f"scale_factor={expression.group(1)}", tmp_path)
    _gives_the_fixed_loss(name, rewritten)


@pytest.mark.parametrize(
    "name, written, closing",
    [
        ("st023_e_seq_first_tagger_logits_flattened_against_batch_first_tags", "tags.reshape(-1)", ""),
        ("st023_f_soft_one_hot_targets_classes_last_for_sequence_scores", "soft)", ")"),
        ("st023_g_decoder_steps_joined_along_the_batch", "torch.cat(outputs, dim=1 if self.fixed else 0)", ""),
    ],
)
def test_a_class_target_that_fits_by_shape_only_has_a_help_that_gives_the_fixed_loss(name, written, closing, tmp_path):
    """ST023 told by lineage: a cross-entropy's scores and target of shapes that fit, their
    rows flattened in two orders or the target's classes last (F.one_hot); the help put in
    place of the target as written computes the fixed version's loss, with no finding left."""
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    if name.startswith("st023_g"):  # the decoder's join that made the rows step-major is named
        assert f"the input's rows are as torch.cat at line {culprit(name)} joined 6 pieces" in found.message
    expression = re.fullmatch(r"use (.+?): .*", found.hint)
    assert expression is not None, found.hint
    _gives_the_fixed_loss(name, _culprit_replaced(name, written, expression.group(1) + closing, tmp_path))


def test_an_upsampling_model_built_for_another_scale_has_a_help_that_gives_the_fixed_loss(tmp_path):
    """ST016 where an ESPCN upsamples its input ×2 (PixelShuffle(2)) and the Dataset made the
    low-res half by pooling ×4: the message names the shuffle and both scales, and the help's
    first fix, the model built for the data's scale, gives the fixed version's loss with no
    finding left. A pooling network's ST016 (case 15) says nothing of upsampling."""
    name = "st016_j_super_resolution_upscale_short_of_the_data_raises"
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    assert "the model upsamples its input ×2, by PixelShuffle(2) (shuffle), where the target is ×4 of it" in (
        found.message
    )
    scale = re.match(r"build the model to upsample ×(\d+), the data's scale \(not ×2\); or resize", found.hint)
    assert scale is not None, found.hint
    source = path_of(name).read_text()
    written = "model = ESPCN(upscale=SCALE) if fixed else ESPCN()"
    assert written in source
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text(source.replace(written, f"model = ESPCN(upscale={scale.group(1)})"))
    _gives_the_fixed_loss(name, load_file(patched, f"patched_{name}"))
    from tests.case_support import case_path

    pooled = [f for f in traced_module(load_file(case_path("15"), "case15_pooled")).findings if f.code == "ST016"]
    assert pooled and all("the model upsamples" not in f.message for f in pooled)
    assert not any(f.hint.startswith("build the model") for f in pooled)


def test_labels_loaded_at_another_size_than_the_input_are_not_blamed_on_the_models_layers(tmp_path):
    """ST016 where a UNet's logits keep its input's size (it pools and upsamples back) and the
    Dataset scaled the mask apart from the image: the message says the target was made at
    1/2 of the input's size where the data is loaded, names no layer of the model, and the
    help's first fix is to load the labels at the input's size (what the fixed version does).
    Its second, the logits resized to the labels' size, runs clean."""
    name = "st016_k_mask_transform_scaled_apart_from_image_raises"
    t = traced_module(module(name))
    found = on_culprit(t.findings, name)[0]
    assert "the target was made at 1/2 of the input's size before the model: where the data is loaded" in found.message
    assert "MaxPool2d" not in found.message and "ConvTranspose2d" not in found.message
    assert found.hint.startswith("load the labels at the input's size")
    resized = re.search(r"F\.interpolate\(model\(image\), size=\(16, 16\), mode='bilinear'\)$", found.hint)
    assert resized is not None, found.hint
    source = path_of(name).read_text()
    written = "F.cross_entropy(model(image), mask)"
    patched = tmp_path / f"patched_{name}.py"
    patched.write_text(source.replace(written, f"F.cross_entropy({resized.group(0)}, mask)"))
    again = traced_module(load_file(patched, "st016_k_helped"))
    assert again.error is None and serious(again) == []
