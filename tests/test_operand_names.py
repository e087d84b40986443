"""An op's inputs are labelled with their source text (``h``, ``self.W`` for
``torch.mm(h, self.W)``) in the table, the tree and the graph, where they were
positions (``0``, ``1``); a line where the trace cannot tell which expression
ran keeps the positions."""

import dataclasses

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

import shapetrace
from shapetrace.render.marks import marked_shapes
from shapetrace.render.source.operands import operand_name


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(6, 8))

    def forward(self, h, adj):
        wh = torch.mm(h, self.W)
        scores = wh.unsqueeze(1) + wh.unsqueeze(0).mT[..., :1].mT
        masked = torch.where(adj > 0, scores[..., 0], torch.full_like(adj, -1e9))
        joined = torch.cat([masked, adj], 1)
        parts = [wh[:, i : i + 1] for i in range(5)]
        stacked = torch.cat(parts, 1)
        both = torch.matmul(wh, wh.T) + torch.matmul(wh, wh.T)
        total = wh.sum(0, keepdim=True)
        total += wh[:1]
        long = torch.mm(wh[:, : self.W.shape[1] - 4], self.W[: self.W.shape[1] - 4])
        summed = (total + wh.mean(0, keepdim=True) * 2.0) * (wh.abs().sum(0, keepdim=True) + 1.0)
        return joined, stacked, both, total, long, wh.add(total), summed


def _trace():
    model = Attention()
    with shapetrace.trace(model) as t:
        model(torch.randn(5, 6), (torch.rand(5, 5) > 0.5).float())
    return t


def _ops(t, name):
    return [call for call in t.calls if call.kind == "op" and call.name == name]


def _names(call):
    return [operand_name(call, meta.path) for meta in call.inputs]


def test_a_function_call_names_its_tensor_arguments():
    t = _trace()
    assert _names(_ops(t, "mm")[0]) == ["h", "self.W"]
    # (``torch.full_like(adj, -1e9)`` is longer than a label: its head stands for it)
    assert _names(_ops(t, "where")[0]) == ["adj > 0", "scores[..., 0]", "torch.full_like(…)"]


def test_operators_methods_and_augmented_assignments_name_both_sides():
    t = _trace()
    add = next(call for call in _ops(t, "add") if call.location.code.startswith("scores"))
    # the right side is longer than a label: its index is left out
    assert _names(add) == ["wh.unsqueeze(1)", "wh.unsqueeze(0).mT[…].mT"]
    assert _names(_ops(t, "add_")[0]) == ["total", "wh[:1]"]
    method = next(call for call in _ops(t, "add") if call.location.code.startswith("return"))
    assert _names(method) == ["wh", "total"]


def test_a_written_out_list_names_its_elements_and_a_list_by_name_still_folds():
    t = _trace()
    joined, stacked = _ops(t, "cat")
    assert _names(joined) == ["masked", "adj"]
    assert _names(stacked) == [None] * 5
    assert marked_shapes(stacked, stacked.inputs, output=False) == ["5 × (5, 1) non-contig"]


def test_two_expressions_of_the_op_on_one_line_keep_positions():
    t = _trace()
    both = [call for call in _ops(t, "matmul") if call.location.code.startswith("both")]
    assert len(both) == 2
    assert all(_names(call) == [None, None] for call in both)


def test_an_operand_longer_than_a_label_is_shortened_to_its_head_or_keeps_its_position():
    t = _trace()
    long = next(call for call in _ops(t, "mm") if call.location.code.startswith("long"))
    assert _names(long) == ["wh[…]", "self.W[…]"]  # the indices left out, never cut
    summed = next(call for call in _ops(t, "mul") if call.location.code.startswith("summed") and len(call.inputs) == 2)
    assert _names(summed) == [None, None]  # sums: no head to stand for them


def test_pytorchs_own_names_come_first_a_loss_keeps_input_and_target():
    pred, target = torch.randn(4, 1, requires_grad=True), torch.randn(4, 1)
    with shapetrace.trace(nn.Identity()) as t:
        F.mse_loss(pred, target)
    loss = _ops(t, "mse_loss")[0]
    assert marked_shapes(loss, loss.inputs, output=False) == ["input (4, 1)", "target (4, 1)"]


def test_a_line_changed_since_the_trace_is_not_read():
    call = _ops(_trace(), "mm")[0]
    moved = dataclasses.replace(call, location=dataclasses.replace(call.location, code="wh = torch.mm(x, self.W)"))
    assert _names(moved) == [None, None]


def test_the_table_and_a_trace_loaded_from_json_show_the_names():
    t = _trace()
    saved = t.to_json()
    assert '"inputs": [{"path": "0"' in saved  # the JSON holds positions: the names come from the source
    loaded = shapetrace.load(saved)
    mm = _ops(loaded, "mm")[0]
    assert marked_shapes(mm, mm.inputs, output=False) == ["h (5, 6)", "self.W (6, 8)"]
    console = Console(width=200, record=True)
    console.print(t.table())
    rows = console.export_text().splitlines()
    mm_row = next(index for index, row in enumerate(rows) if "mm(T, T)" in row)
    assert "h (5, 6)" in rows[mm_row] and "self.W (6, 8)" in rows[mm_row + 1]


class _ResidualAroundALayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0)

    def forward(self, x, y):
        return self.layer(x) + y


def test_an_op_inside_pytorchs_layer_placed_at_the_users_line_is_not_named_by_it():
    model, x, y = _ResidualAroundALayer().train(), torch.randn(5, 3, 16), torch.randn(5, 3, 16)
    with shapetrace.trace(model) as t:
        model(x, y)
    adds = _ops(t, "add")
    inside = [call for call in adds if call.parent is not None and call.parent.name == "layer"]
    assert len(inside) == 2  # the layer's two residual adds, recorded at this forward's line
    assert all(_names(call) == [None, None] for call in inside)
    (own,) = [call for call in adds if call.parent is not None and call.parent.name == ""]
    assert _names(own) == ["self.layer(x)", "y"]
