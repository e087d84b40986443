"""Tensor identities: calls that saw the same tensor object say so, and the
producer links follow them where metadata alone cannot tell tensors apart."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.analyze.lineage.flow import analyze
from shapetrace.core.meta_table import MetaTable
from shapetrace.errors import TraceFormatError
from shapetrace.render.graph.links import GraphLinks
from tests.render_support import trace_of


class Residual(nn.Module):
    """``x + f(x)``: both addends are (4, 8) float32 contiguous tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(x + self.f(x))


class ReadOutOfOrder(nn.Module):
    """``h`` reads ``a`` while a newer tensor alike, ``b``, exists."""

    def __init__(self) -> None:
        super().__init__()
        self.f, self.g, self.h = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        a = self.f(x)
        b = self.g(x)
        return self.h(a), b


class TwoReaders(nn.Module):
    """``y`` is made between modules; with ops=False nothing records its making."""

    def __init__(self) -> None:
        super().__init__()
        self.f, self.g, self.k = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        y = self.f(x) * 2
        first = self.g(y)
        after = self.f(first)  # a newer (4, 8) tensor than y
        return self.k(y), after


def _op(trace, name):
    return next(call for call in trace.ops if call.name == name)


def _producer(flow, call, index):
    source = flow.source(call, index)
    return None if source is None else (source.call.name, source.call.index, source.as_input)


def _graph_producer(flow, call, index):
    source = flow.input_source(call, index)
    return None if source is None else (source.call.name, source.call.index, source.is_input)


# ------------------------------------------------------------ numbering
def test_the_same_tensor_object_keeps_its_number_and_others_get_their_own():
    table = MetaTable()
    x, y = torch.zeros(2, 3), torch.zeros(2, 3)
    numbers = [table.identity(t) for t in (x, y, x, x.view(3, 2), y)]
    assert numbers[0] == numbers[2] and numbers[1] == numbers[4]
    assert len({numbers[0], numbers[1], numbers[3]}) == 3


def test_a_dead_tensors_address_given_to_a_new_one_is_a_new_tensor():
    table = MetaTable()
    x = torch.zeros(2, 3)
    address, number = id(x), table.identity(x)
    del x
    for _ in range(1000):  # CPython hands the freed object's memory out again soon
        candidate = torch.zeros(2, 3)
        if id(candidate) == address:
            assert table.identity(candidate) != number
            return
    pytest.skip("no new tensor took the freed address")


def test_the_identity_table_forgets_dead_tensors():
    table = MetaTable()
    for _ in range(20_000):
        table.identity(torch.zeros(1))
    assert len(table._numbers) <= 2 * 4096


def test_identities_keep_no_tensor_alive():
    model, x = Residual(), torch.randn(4, 8)
    with shapetrace.trace(model) as t:
        out = model(x)
    watch = weakref.ref(out)
    del out
    gc.collect()
    assert watch() is None and t.root.output_ids


# ------------------------------------------------------------ recording
def test_calls_name_the_tensors_they_share():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.same = nn.Identity()

        def forward(self, x):
            y = x.view(2, 6)
            y.add_(1)
            return self.same(y)

    t = trace_of(Model(), torch.zeros(3, 4))
    view, add_, same = _op(t, "view"), _op(t, "add_"), t["same"]
    assert view.input_ids == t.root.input_ids and view.output_ids != view.input_ids  # a view is a new tensor
    assert add_.input_ids[0] == add_.output_ids[0] == view.output_ids[0]  # in place: the same tensor
    assert same.output_ids == same.input_ids == view.output_ids  # Identity returns what it got
    assert t.root.output_ids == view.output_ids
    assert all(len(c.tensor_ids) == len(c.inputs) + len(c.outputs) for c in t.calls)


def test_a_failed_call_numbers_its_inputs_only():
    model = nn.Linear(8, 2)
    with pytest.raises(RuntimeError), shapetrace.trace(model) as t:
        model(torch.zeros(3, 5))
    assert t.root.error and t.root.outputs == () and len(t.root.tensor_ids) == 1


# -------------------------------------------------------------- linking
@pytest.mark.parametrize("ops", [True, False])
def test_a_residual_add_reads_the_input_and_the_branch(ops):
    t = trace_of(Residual(), torch.randn(4, 8), ops=ops)
    if ops:  # the add is recorded: its two addends are two tensors alike
        add = _op(t, "add")
        assert _producer(analyze(t.calls), add, 0) == ("", 0, True)
        assert _producer(analyze(t.calls), add, 1) == ("f", 0, False)
        assert _graph_producer(GraphLinks(t), add, 0) == ("", 0, True)
        assert _graph_producer(GraphLinks(t), add, 1) == ("f", 0, False)
    # The branch reads the block's input, not a tensor alike made inside.
    assert _producer(analyze(t.calls), t["f"], 0) == ("", 0, True)


@pytest.mark.parametrize("ops", [True, False])
def test_a_tensor_read_after_a_newer_one_alike_links_to_its_own_producer(ops):
    t = trace_of(ReadOutOfOrder(), torch.randn(4, 8), ops=ops)
    assert _producer(analyze(t.calls), t["h"], 0) == ("f", 0, False)
    assert _graph_producer(GraphLinks(t), t["h"], 0) == ("f", 0, False)


def test_a_tensor_made_where_nothing_recorded_is_matched_once_then_followed():
    """With ops=False ``y`` is first met as g's input: matched by metadata to
    f's output; k reads the same y later, after a newer tensor alike, and
    takes the same producer."""
    t = trace_of(TwoReaders(), torch.randn(4, 8), ops=False)
    g, k = t["g"], t["k"]
    assert g.input_ids == k.input_ids
    for producer in (lambda call: _producer(analyze(t.calls), call, 0),
                     lambda call: _graph_producer(GraphLinks(t), call, 0)):
        assert producer(g) == producer(k) == ("f", 0, False)


def test_a_trace_without_identities_links_by_metadata_as_before():
    """An old JSON file has no tensor_ids: the residual's skip is then lost
    (both addends link to the branch), which identities fix."""
    t = trace_of(Residual(), torch.randn(4, 8))
    document = json.loads(t.to_json())
    for call in document["calls"]:
        del call["tensor_ids"]
    old = shapetrace.load(json.dumps(document))
    assert all(call.tensor_ids == () for call in old.calls)
    add = _op(old, "add")
    assert _producer(analyze(old.calls), add, 0) == _producer(analyze(old.calls), add, 1) == ("f", 0, False)


# ---------------------------------------------------------------- JSON
def test_identities_round_trip_and_give_the_same_links():
    t = trace_of(ReadOutOfOrder(), torch.randn(4, 8))
    loaded = shapetrace.load(t.to_json())
    assert [c.tensor_ids for c in loaded.calls] == [c.tensor_ids for c in t.calls]
    assert _producer(analyze(loaded.calls), loaded["h"], 0) == ("f", 0, False)


@pytest.mark.parametrize("ids, problem", [
    ([0], "has 1 entries for 2 tensors"),
    ([0, -1], "should be >= 0"),
    ([0, "1"], "should be int"),
    ([0, True], "should be int"),
    ({"0": 1}, "should be list"),
])
def test_bad_identities_are_named(ids, problem):
    t = trace_of(nn.Linear(8, 2), torch.zeros(3, 8))
    document = json.loads(t.to_json())
    document["calls"][0]["tensor_ids"] = ids
    with pytest.raises(TraceFormatError, match=rf"calls\[0\]\.tensor_ids.*{problem}"):
        shapetrace.load(json.dumps(document))


def test_a_target_alike_the_prediction_is_its_own_graph_input():
    """pred and target are both (8, 1) float32: by metadata the loss took
    the prediction twice and the graph lost the target's edge."""
    from tests.models import correct_models as correct

    model, inputs = correct.training_step()
    t = trace_of(model, *inputs)
    loss = _op(t, "mse_loss")
    flow = GraphLinks(t)
    assert _graph_producer(flow, loss, 0) == ("head", 0, False)
    assert _graph_producer(flow, loss, 1) == ("", 0, True)
    assert flow.input_source(loss, 1).path == "1"  # the model's second argument
    assert not flow.is_read(t.root, "") and flow.is_read(t["head"], "")
