"""Dimension lineage: which original axes each dim is made of, and producer links."""

from __future__ import annotations

import torch
from torch import nn

import shapetrace
from shapetrace.analyze.lineage.atoms import Atom, regroup
from shapetrace.analyze.lineage.flow import analyze
from tests.models import correct_models as correct

B, T, H = Atom("B", 5), Atom("T", 30), Atom("H", 64)


def test_merge_and_split_keep_the_atoms():
    merged = regroup(((B,), (T,), (H,)), (150, 64), "v")
    assert merged.lineage == ((B, T), (H,)) and merged.mixed == ()
    assert regroup(merged.lineage, (5, 30, 1, 64), "w").lineage == ((B,), (T,), (), (H,))


def test_split_pieces_join_back():
    pieces = regroup(((H,),), (4, 16), "v").lineage
    assert pieces == ((Atom("H", 4, 16),), (Atom("H", 16, 1),))
    assert regroup(pieces, (64,), "w").lineage == ((H,),)


def test_reordering_is_a_mixed_block():
    swapped = regroup(((B, T), (H,)), (30, 5, 64), "v")
    assert swapped.mixed == (((B, T), (0, 1)),)
    assert swapped.lineage[2] == (H,)
    assert {atom.origin for dim in swapped.lineage[:2] for atom in dim} == {"v:0", "v:1"}


def test_equal_sizes_stay_apart_by_origin():
    square = regroup(((Atom("B", 5),), (Atom("T", 5),)), (25,), "v").lineage
    assert [atom.origin for atom in square[0]] == ["B", "T"]


def _dims_from_input(trace, call, output=0):
    """Each output dim of ``call`` as the model-input dims it comes from (None: new)."""
    flow = analyze(trace.calls)
    given = flow.input_lineage(trace.root, 0)
    names = {atom.origin: f"x{i}" for i, dim in enumerate(given) for atom in dim}
    return [tuple(names.get(atom.origin) for atom in dim) for dim in flow.output_lineage(call, output)]


def test_article_forecaster_output_keeps_the_input_batch():
    trace = shapetrace.load(_trace(correct.seed_forecaster()).to_json())
    assert _dims_from_input(trace, trace.root) == [("x0",), ()]
    merged = next(op for op in trace.ops if op.name == "view" and op.output.shape == (150, 64))
    assert _dims_from_input(trace, merged) == [("x0", "x1"), (None,)]


def test_rnn_outputs_follow_batch_first():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 8)

        def forward(self, x):
            out, h_n = self.gru(x)
            return out.permute(1, 0, 2)[:, -1], h_n

    trace = _trace((Model(), (torch.randn(7, 4, 3),)))
    assert _dims_from_input(trace, trace["gru"], 0) == [("x0",), ("x1",), (None,)]
    assert _dims_from_input(trace, trace["gru"], 1) == [(), ("x1",), (None,)]
    assert _dims_from_input(trace, trace.root) == [("x1",), (None,)]


def test_initial_states_alike_link_to_their_own_producers():
    trace = _trace(correct.seed_forecaster())
    flow = analyze(trace.calls)
    lstm = trace["lstm"]
    makers = [flow.source(lstm, k).call.location.lineno for k in (1, 2)]
    assert makers[0] + 1 == makers[1]  # h_0's line, then c_0's


def test_a_tensor_read_three_times_links_three_times_to_one_producer():
    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            x = self.norm(x)
            return self.attention(x, x, x)[0]

    trace = _trace((SelfAttention(), (torch.randn(2, 5, 8),)))
    flow = analyze(trace.calls)
    attention = trace["attention"]
    assert {flow.source(attention, k).call.name for k in range(3)} == {"norm"}
    assert _dims_from_input(trace, attention) == [("x0",), ("x1",), ("x2",)]


def test_reductions_and_indexing_drop_dims():
    class Model(nn.Module):
        def forward(self, x):
            return x.mean(dim=1), x[..., 0], torch.cat([x, x], dim=-1)

    trace = _trace((Model(), (torch.randn(2, 3, 4),)))
    mean, index, cat = trace.ops
    assert _dims_from_input(trace, mean) == [("x0",), ("x2",)]
    assert _dims_from_input(trace, index) == [("x0",), ("x1",)]
    assert _dims_from_input(trace, cat)[:2] == [("x0",), ("x1",)]


def test_einsum_keeps_the_axes_its_output_labels_name():
    class Model(nn.Module):
        def forward(self, x, w):
            return (
                torch.einsum("bth,bt->bh", x, w),  # the steps summed away
                torch.einsum("bht,bt->bh", x, w),  # labels swapped: the hidden axis summed
                torch.einsum("bih,bjh->bij", [x, x]),  # the list form: both operands' steps
                torch.einsum("...h,h", x, x[0, 0]),  # implicit output, after the ellipsis
            )

    trace = _trace((Model(), (torch.randn(2, 4, 4), torch.randn(2, 4))))
    summed, swapped, scores, implicit = [op for op in trace.ops if op.name == "einsum"]
    assert _dims_from_input(trace, summed) == [("x0",), ("x2",)]
    assert _dims_from_input(trace, swapped) == [("x0",), ("x1",)]
    assert _dims_from_input(trace, scores) == [("x0",), ("x1",), ("x1",)]
    assert _dims_from_input(trace, implicit) == [("x0",), ("x1",)]


def _trace(example):
    model, inputs = example
    with shapetrace.trace(model) as t:
        model(*inputs)
    return t


def test_heads_folded_by_split_and_cat_keep_the_head_piece_outermost():
    """``torch.cat(x.split(d, dim=-1), dim=0)``: the pieces of the features, in order,
    joined along the batch: dim 0 is (heads, batch), head-major, and the features keep
    their minor piece; a cat of other tensors, or of pieces out of order, is a new axis."""
    import torch

    import shapetrace
    from shapetrace.analyze.lineage.flow import analyze

    with shapetrace.trace() as t:
        x = torch.randn(2, 5, 24)
        folded = torch.cat(x.split(6, dim=-1), dim=0)
        a, b = x.chunk(2, dim=-1)
        swapped = torch.cat([b, a], dim=0)
    flow = analyze(t.calls)
    cats = [c for c in t.calls if c.name == "cat"]
    dims = flow.output_lineage(cats[0], 0)
    features = flow.input_lineage(t.calls[[c.name for c in t.calls].index("split")], 0)[2][0]
    major, batch = dims[0]
    assert (major.origin, major.size, major.stride) == (features.origin, 4, 6)
    assert batch.size == 2 and batch.origin != features.origin
    assert [(atom.origin, atom.size, atom.stride) for atom in dims[2]] == [(features.origin, 6, 1)]
    assert folded.shape == (8, 5, 6) and swapped.shape == (4, 5, 12)
    assert flow.output_lineage(cats[1], 0)[0][0].origin.startswith("cat#")
