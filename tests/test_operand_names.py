"""An op's inputs are labelled with their source text (``h``, ``self.W`` for
``torch.mm(h, self.W)``) in the table, the tree and the graph, where they were
positions (``0``, ``1``); a line where the trace cannot tell which expression
ran keeps the positions, and so does the note on a raised error."""

import dataclasses

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

import shapetrace
from shapetrace.analyze.operand_text import operand_name
from shapetrace.render.marks import marked_shapes


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


def test_two_expressions_of_the_op_on_one_line_are_told_apart_by_the_order_they_run():
    t = _trace()
    both = [call for call in _ops(t, "matmul") if call.location.code.startswith("both")]
    assert len(both) == 2
    assert all(_names(call) == ["wh", "wh.T"] for call in both)


class _CellByHand(nn.Module):
    """An LSTM-like cell written by hand, stepped over time: two products on one line."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(3, 8))
        self.U = nn.Parameter(torch.randn(8, 8))

    def forward(self, xs, h):
        for x in xs.unbind(1):
            h = torch.tanh(x @ self.W + h @ self.U)
        picked = xs[:, 0] @ self.W if xs.shape[0] > 1 else h @ self.U
        return h, torch.add(picked, other=h, alpha=2)


def test_a_loop_over_a_line_with_two_products_names_each_in_every_step():
    model = _CellByHand()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 5, 3), torch.zeros(4, 8))
    steps = [call for call in _ops(t, "matmul") if "tanh" in call.location.code]
    assert [call.inputs[1].shape for call in steps] == [(3, 8), (8, 8)] * 5
    assert [_names(call) for call in steps] == [["x", "self.W"], ["h", "self.U"]] * 5
    # an ``if``-expression runs one of its products: which one is not told by the order
    (picked,) = [call for call in _ops(t, "matmul") if call.location.code.startswith("picked")]
    assert _names(picked) == [None, None]


def test_a_tensor_passed_by_keyword_is_named_by_its_argument():
    model = _CellByHand()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 5, 3), torch.zeros(4, 8))
    (add,) = _ops(t, "add")[-1:]
    assert [meta.path for meta in add.inputs] == ["0", "other"]
    assert _names(add) == ["picked", "h"]


def test_an_index_assignment_names_the_tensor_and_the_value():
    def fill(x, y):
        z = torch.zeros_like(x)
        z[:, 0] = y[:, 1]
        return z

    with shapetrace.trace(nn.Identity()) as t:
        fill(torch.randn(3, 4), torch.randn(3, 2))
    (store,) = _ops(t, "__setitem__")
    assert marked_shapes(store, store.inputs, output=False) == ["z (3, 4)", "y[:, 1] (3,) non-contig"]


def test_the_note_on_a_raised_error_names_the_operands_as_the_table_does():
    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.W, self.U = nn.Parameter(torch.randn(4, 8)), nn.Parameter(torch.randn(6, 8))

        def forward(self, x, h):
            return x @ self.W + h @ self.U

    model = Cell()
    try:
        with shapetrace.trace(model):
            model(torch.randn(3, 4), torch.randn(3, 8))
    except RuntimeError as error:
        note = "\n".join(error.__notes__)
    else:
        raise AssertionError("the (3, 8) @ (6, 8) product did not raise")
    assert "  operands: h (3, 8), self.U (6, 8)\n" in note


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


class _PlainValuesOnTheLine(nn.Module):
    """Lines whose other expressions of the op's kind run on Python values and
    record nothing (newcomer review: they were taken for the op's)."""

    def __init__(self):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, 10, 4))
        self.bias = nn.Parameter(torch.randn(4))
        self.w = nn.Parameter(torch.randn(8, 4))

    def forward(self, x, skip, features):
        n = x.shape[1]
        x = x + self.pos[:, 1 : (n + 1)]
        y = torch.add(x[:, 0], x[:, 1]) + self.bias + skip
        joined = torch.cat([*features, y], 1)
        s = 0
        for t in range(x.shape[1]):
            s = s * 0.5 + x[:, t] * self.w[t]
        return joined, s


def test_expressions_on_python_values_are_not_taken_for_the_ops():
    model = _PlainValuesOnTheLine()
    x, skip, features = torch.randn(2, 8, 4), torch.randn(2, 4), [torch.randn(2, 1), torch.randn(2, 2)]
    with shapetrace.trace(model) as t:
        model(x, skip, features)
    pos_add = next(call for call in _ops(t, "add") if call.location.code.startswith("x = x +"))
    # ``n + 1`` adds ints and records nothing: which of the two adds ran is not told, so
    # positions stand, never the ints' names (lucidrains' ViT: ``n (2, 17, 32)`` was shown)
    assert _names(pos_add) == [None, None]
    function, first, second = [call for call in t.calls if call.kind == "op" and call.location.code.startswith("y =")
                               and call.name == "add"]
    assert _names(function) == ["x[:, 0]", "x[:, 1]"]
    assert _names(first) == ["torch.add(…)", "self.bias"]
    assert _names(second) == [None, "skip"]  # its left side is a sum: no head to stand for it
    (cat,) = _ops(t, "cat")
    assert _names(cat) == [None, None, None]  # ``[*features, y]``: no element is at its position
    steps = [call for call in _ops(t, "mul") if len(call.inputs) == 2]
    # the first step's ``s * 0.5`` multiplies an int: the line's tensor products are told apart all the same
    assert {tuple(_names(call)) for call in steps} == {("x[:, t]", "self.w[t]")}
    scaled = [call for call in _ops(t, "mul") if len(call.inputs) == 1]
    assert scaled and all(_names(call) == ["s"] for call in scaled)


def test_a_label_with_an_index_is_shown_whole_in_the_terminal_table():
    model = _PlainValuesOnTheLine()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 8, 4), torch.randn(2, 4), [torch.randn(2, 1)])
    console = Console(width=220, record=True)
    console.print(t.table())
    text = console.export_text()
    assert "self.w[t] (4,)" in text  # rich would read ``[t]`` as a style tag


class _OpsNoExpressionStartsOn(nn.Module):
    """Ops Python places on a line where no candidate expression of theirs starts
    (second newcomer review: each was given another expression's operands)."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(4, 4))

    def forward(self, scores, v, x, agg, src, dst):
        out = (scores.softmax(-1)
               .matmul(v) + x.matmul(self.W))
        agg[dst] += x[src]
        return out, sum([out, x]) + 0.5 * x


def test_chained_calls_index_loads_of_an_augmented_target_and_sums_are_not_misnamed():
    model = _OpsNoExpressionStartsOn()
    args = (torch.randn(2, 3, 3), torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.zeros(5, 3, 4),
            torch.tensor([0, 1]), torch.tensor([3, 4]))
    with shapetrace.trace(model) as t:
        model(*args)
    chained, own = _ops(t, "matmul")
    assert _names(chained) == ["scores.softmax(-1)", "v"]  # Python places it on the .matmul line
    assert _names(own) == ["x", "self.W"]
    target, value = [call for call in _ops(t, "__getitem__") if call.location.code.startswith("agg")]
    assert _names(target) == ["agg", "dst"] and _names(value) == ["x", "src"]
    # ``sum`` adds its list with its own + : no expression of the line is those adds
    last = [call for call in _ops(t, "add") if call.location.code.startswith("return")]
    assert last and all(_names(call) in ([None, None], [None]) for call in last)
