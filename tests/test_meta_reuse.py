"""A tensor met again is not read again (core/meta_table.py): these hold that the
metadata recorded is still the tensor's own after every way PyTorch has of
changing a tensor's metadata in place, with the op mode on and off."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.core.meta_table import MetaTable


def _ops(t, name):
    return [c for c in t.calls if c.kind == "op" and c.name == name]


class _InPlace(nn.Module):
    """Reads ``x`` (so its metadata is in the table), changes it in place, reads it again."""

    def __init__(self, change) -> None:
        super().__init__()
        self.change = change

    def forward(self, x):
        x = x * 1  # a tensor of the trace's own
        before = x + 1
        self.change(x)
        after = x + 1
        return before, after


def _changed_shapes(change, x):
    model = _InPlace(change)
    with shapetrace.trace(model) as t:
        model(x)
    adds = _ops(t, "add")
    return adds[0].inputs[0], adds[1].inputs[0], adds[1].outputs[0]


def test_in_place_view_ops_are_seen():
    cases = {
        "unsqueeze_": (lambda x: x.unsqueeze_(0), (1, 2, 3)),
        "squeeze_": (lambda x: x.unsqueeze_(0).squeeze_(0), (2, 3)),
        "t_": (lambda x: x.t_(), (3, 2)),
        "transpose_": (lambda x: x.transpose_(0, 1), (3, 2)),
        "swapdims_": (lambda x: x.swapdims_(0, 1), (3, 2)),
        "resize_": (lambda x: x.resize_(6), (6,)),
        "as_strided_": (lambda x: x.as_strided_((3,), (2,)), (3,)),
        "set_": (lambda x: x.set_(torch.zeros(4, 1)), (4, 1)),
        "Tensor.resize_ unbound": (lambda x: torch.Tensor.resize_(x, 1, 6), (1, 6)),
    }
    for name, (change, shape) in cases.items():
        before, after, out = _changed_shapes(change, torch.randn(2, 3))
        assert before.shape == (2, 3), name
        assert after.shape == shape and out.shape == shape, name


def test_a_transposed_in_place_tensor_keeps_its_strides():
    _, after, _ = _changed_shapes(lambda x: x.t_(), torch.randn(2, 3))
    assert after.stride == (1, 3) and not after.contiguous


def test_requires_grad_and_data_assignment_are_seen():
    def assign_data(x):
        x.data = torch.zeros(5, dtype=torch.float64)

    def set_flag(x):
        x.detach_()
        x.requires_grad = True

    before, after, _ = _changed_shapes(assign_data, torch.randn(2, 3))
    assert before.shape == (2, 3) and after.shape == (5,) and after.dtype == torch.float64
    before, after, _ = _changed_shapes(lambda x: x.detach_().requires_grad_(), torch.randn(2, 3))
    assert not before.requires_grad and after.requires_grad
    before, after, _ = _changed_shapes(set_flag, torch.randn(2, 3))
    assert not before.requires_grad and after.requires_grad


def test_an_out_tensor_resized_by_an_op_is_seen():
    class Model(nn.Module):
        def forward(self, x):
            buffer = x[:0] * 1  # empty, of the trace's own
            first = buffer + 1
            torch.cat([x, x], out=buffer)
            return first, buffer + 1

    model = Model()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    adds = _ops(t, "add")
    assert adds[0].inputs[0].shape == (0, 3) and adds[1].inputs[0].shape == (4, 3)


def test_changes_made_while_the_op_mode_is_off_are_seen():
    """A pre-hook of the user's on a built-in module runs with the op mode off."""
    linear = nn.Linear(3, 3)

    def unsqueeze_input(module, args):
        args[0].unsqueeze_(0)

    linear.register_forward_pre_hook(unsqueeze_input)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = linear

        def forward(self, x):
            x = x * 1
            x + 1
            self.linear(x)
            return x + 1

    model = Model()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    adds = _ops(t, "add")
    assert adds[0].inputs[0].shape == (2, 3) and adds[1].inputs[0].shape == (1, 2, 3)


# Changes no version counter sees: the table learns of them only by being told
# (``changed``), so each place where the op mode is off is tried with them.
def _assign_data(x):
    x.data = torch.zeros(5, 3, dtype=torch.float64)


_UNVERSIONED = {
    "requires_grad_": (lambda x: x.detach_().requires_grad_(), lambda meta: meta.requires_grad),
    ".data =": (_assign_data, lambda meta: meta.shape == (5, 3)),
}
unversioned = pytest.mark.parametrize("change, changed", list(_UNVERSIONED.values()), ids=list(_UNVERSIONED))


class _Held(nn.Module):
    """Keeps a tensor of the trace's own, read by an op (so in the table), and
    reads it again after calling ``inner`` (which may change it unseen)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.held: list[torch.Tensor] = []

    def forward(self, x):
        kept = x * 1
        self.held.append(kept)
        kept + 1
        self.inner(torch.ones(2, 3))
        return kept + 1


@unversioned
@pytest.mark.parametrize("hook", ["pre", "post"])
def test_unversioned_changes_in_a_built_in_layers_hooks_are_seen(change, changed, hook):
    """A user's pre- and forward hooks on a built-in layer run with the op mode off."""
    model = _Held(nn.Linear(3, 3))
    if hook == "pre":
        model.inner.register_forward_pre_hook(lambda module, args: change(model.held[0]))
    else:
        model.inner.register_forward_hook(lambda module, args, out: change(model.held[0]))
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    before, after = (c.inputs[0] for c in _ops(t, "add"))
    assert not changed(before) and changed(after)


class _ChangeBetween(nn.Module):
    def __init__(self, change) -> None:
        super().__init__()
        self.change = change
        self.a, self.b = nn.Identity(), nn.Identity()

    def forward(self, x):
        x = self.a(x * 1)
        self.change(x)
        return self.b(x)


@unversioned
def test_unversioned_changes_between_modules_of_a_modules_only_trace_are_seen(change, changed):
    model = _ChangeBetween(change)
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randn(2, 3))
    assert not changed(t["a"].inputs[0]) and changed(t["b"].inputs[0])


class _Call(nn.Module):
    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


@unversioned
def test_unversioned_changes_inside_a_built_in_container_are_seen(change, changed):
    """A user's layer inside ``nn.Sequential`` (whose own forward runs with the op
    mode off) changes a tensor that a later layer reads."""
    held = []

    def alter_held(x):
        change(held[0])
        return x

    keep = _Call(lambda x: held.append(x * 1) or x)
    read = _Call(lambda x: held[0] + 1)
    alter = _Call(alter_held)
    model = nn.Sequential(keep, nn.Identity(), alter, nn.Identity(), read)
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    add = _ops(t, "add")[-1]
    assert changed(add.inputs[0])


def test_a_built_in_layer_in_a_users_forward_refreshes_the_table_once(monkeypatch):
    """The code a built-in layer runs unseen makes the table read its tensors again
    once, as its call ends: its output, read there, is not read again by the next op."""
    refreshes = []
    original = MetaTable.changed

    def counting(table):
        refreshes.append(1)
        original(table)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return self.linear(x) + 1

    model = Model()
    with shapetrace.trace(model) as t:
        monkeypatch.setattr(MetaTable, "changed", counting)
        model(torch.randn(2, 3))
    assert t["linear"].outputs[0].shape == _ops(t, "add")[0].inputs[0].shape == (2, 3)
    assert len(refreshes) == 2  # the layer's unseen run; the top-level call's end


def test_modules_only_traces_read_every_module_input_again():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Identity(), nn.Identity()

        def forward(self, x):
            self.a(x)
            x.unsqueeze_(0)  # no op mode: unseen as an op
            return self.b(x)

    model = Model()
    with shapetrace.trace(model, ops=False) as t:
        model(torch.randn(2, 3))
    assert t["a"].inputs[0].shape == (2, 3) and t["b"].inputs[0].shape == (1, 2, 3)


def test_the_table_reuses_a_read_until_the_tensor_or_the_epoch_changes():
    table = MetaTable()
    x = torch.zeros(2, 3)
    first = table.meta(x, "0")
    assert table.meta(x, "0") is first
    x.requires_grad_()  # outside any trace, and no version bump: unseen
    assert table.meta(x, "0") is first  # reused: the recorder's job is to say
    table.changed()
    assert table.meta(x, "0").requires_grad
    with torch.no_grad():
        x.unsqueeze_(0)  # unseen too, but it bumps the version counter
    assert table.meta(x, "0").shape == (1, 2, 3)
    assert table.meta(x, "1").path == "1" and table.meta(x, "1").shape == (1, 2, 3)
    assert table.identities == [table.identity(x)] * 7


def test_inference_tensors_are_read_every_time():
    table = MetaTable()
    with torch.inference_mode():
        x = torch.zeros(2, 3)
        assert table.meta(x, "0").shape == (2, 3)
        x.unsqueeze_(0)
        assert table.meta(x, "0").shape == (1, 2, 3)
    model = _InPlace(lambda x: x.unsqueeze_(0))
    with torch.inference_mode(), shapetrace.trace(model) as t:
        model(torch.randn(2, 3))
    assert [c.inputs[0].shape for c in _ops(t, "add")] == [(2, 3), (1, 2, 3)]


class _AddLoop(nn.Module):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x, y):
        for _ in range(self.steps):
            x = x + 1  # a tensor and a number
            x = x * y  # two tensors
        return x


def _objects_kept(steps: int) -> int:
    """The objects Python's collector counts (allocations minus frees of
    container objects) that a trace of ``steps`` loop steps leaves behind."""
    model, x, y = _AddLoop(steps), torch.randn(2, 3), torch.randn(2, 3)
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        with shapetrace.trace(model) as t:
            model(x, y)
        kept = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert len(t.calls) == 1 + 2 * steps
    return kept


def test_an_op_record_keeps_few_objects():
    # Each object a record keeps brings Python's next collection nearer; on
    # real models those collections were 0.15-0.45x of the plain forward.
    # An op's Call, its dict and its tensor ids are its own; its outputs
    # tuple, empty kwargs and config, and the stand-ins of tensor arguments
    # are shared (nine objects an op before).
    _objects_kept(50)
    per_op = (_objects_kept(250) - _objects_kept(50)) / 400
    assert per_op <= 5, per_op


def test_shared_record_parts_are_equal_to_what_they_stand_for():
    model, x, y = _AddLoop(2), torch.randn(2, 3), torch.randn(2, 3)
    with shapetrace.trace(model) as t:
        model(x, y)
    adds, muls = _ops(t, "add"), _ops(t, "mul")
    assert [c.args for c in adds] == [({"tensor": "0"}, 1)] * 2
    assert [c.args for c in muls] == [({"tensor": "0"}, {"tensor": "1"})] * 2
    assert all(c.kwargs == {} and c.config == {} for c in adds + muls)
    assert [len(c.inputs) for c in muls] == [2, 2] and [len(c.outputs) for c in muls] == [1, 1]
    assert muls[0].outputs[0].shape == (2, 3) and muls[0].outputs == muls[1].outputs  # one (meta,) tuple
    loaded = shapetrace.load(t.to_json())
    assert [c.args for c in loaded.calls if c.kind == "op"] == [c.args for c in t.calls if c.kind == "op"]


def test_single_tuples_stay_bounded(monkeypatch):
    from shapetrace.core import meta_table

    monkeypatch.setattr(meta_table, "_SHARED_LIMIT", 3)
    monkeypatch.setattr(meta_table, "_SINGLES", {})
    metas = [shapetrace.TensorMeta(str(i), (i,), torch.float32, "cpu") for i in range(6)]
    singles = [MetaTable.single(meta) for meta in metas]
    assert [one[0] for one in singles] == metas  # each (meta,), kept or not
    assert len(meta_table._SINGLES) == 3
    assert MetaTable.single(metas[0]) is singles[0]
