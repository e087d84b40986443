"""The facts a trace reads from its model as it starts (names, parameter counts,
how each module is hooked) are kept for the next trace of the same model
(record/model_facts.py): a model changed between two traces must be read again.

Each test traces a model, changes it, traces it again, and compares the second
trace with the long way (``named_modules()``, ``parameters()``) and with a
trace of the changed model made with nothing kept.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.record import kept_info, model_facts


@pytest.fixture(autouse=True)
def _keep_every_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the facts of small modules too (by default they are read again: cheaper
    than checked), so that every check of a kept module's facts is exercised."""
    monkeypatch.setattr(kept_info, "_WORTH_KEEPING", 0)


class Block(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _trace(model: nn.Module, x: torch.Tensor | None = None) -> shapetrace.Trace:
    with shapetrace.trace(model, ops=False) as t:
        model(torch.ones(3, 4) if x is None else x)
    return t


def _fields(t: shapetrace.Trace) -> list[dict[str, Any]]:
    return [
        {f.name: getattr(call, f.name) for f in dataclasses.fields(call) if f.name not in ("parent", "children")}
        for call in t.calls
    ]


def _check(model: nn.Module, t: shapetrace.Trace) -> None:
    """The trace says what the long way says, and what a trace with nothing kept records."""
    by_name = dict(model.named_modules())
    modules = [call for call in t.calls if call.kind == "module"]
    assert modules
    for call in modules:
        module = by_name[call.name]
        assert call.num_params == sum(p.numel() for p in module.parameters()), call.name
        assert call.type == type(module).__name__
    model_facts._kept.clear()
    assert _fields(_trace(model)) == _fields(t)


# What a change takes out of the model stays alive (as a user's variable would
# keep it): only the walk of the model's tree can tell that it changed.
_taken_out: list[Any] = []


def _replace_head(model: Net) -> None:
    _taken_out.append(model.head)
    model.head = nn.Linear(4, 3)


def _add_module(model: Net) -> None:
    model.blocks.append(Block())


def _remove_module(model: Net) -> None:
    _taken_out.append(model.blocks[1])
    del model.blocks[1]


def _rename_module(model: Net) -> None:
    model.tail = model.head
    del model.head
    model.forward = lambda x: model.tail(model.blocks[1](model.blocks[0](x)))  # type: ignore[method-assign]


def _replace_parameter(model: Net) -> None:
    _taken_out.append(model.head.weight)
    model.head.weight = nn.Parameter(torch.zeros(2, 4))  # same size: the id changes


def _grow_parameter(model: Net) -> None:
    # The same Parameter, bigger: the forward still works (it is a scale).
    model.blocks[0].extra = nn.Parameter(torch.ones(1))
    model.blocks[0].extra.data = torch.ones(5)


def _drop_parameter(model: Net) -> None:
    _taken_out.append(model.head.bias)
    model.head.bias = None  # type: ignore[assignment]


def _share_module(model: Net) -> None:
    _taken_out.append(model.blocks[1])
    model.blocks[1] = model.blocks[0]  # now a DAG: counted once


def _change_class(model: Net) -> None:
    class Other(nn.Linear):
        pass

    model.head.__class__ = Other


def _add_hook(model: Net) -> None:
    model.blocks[0].fc.register_forward_hook(lambda module, args, out: None)


def _config_of_another_class(model: Net) -> None:
    model.blocks[0].scale = 2.0  # equal to 2, a float now
    model.blocks[1].fc.in_features = True  # equal to 1 (not used by the forward)


def _attribute_becomes_config(model: Net) -> None:
    model.blocks[0].sizes = [3]
    model.blocks[1].pair = (1, torch.ones(1))  # a tuple holding a tensor: not config


def _attribute_added_and_removed(model: Net) -> None:
    model.blocks[0].dropout_p = 0.1
    del model.blocks[1].scale
    model.blocks[1].forward = model.blocks[0].forward  # (its own forward needs scale)


class Block2(Block):
    pass


def _forward_replaced(model: Net) -> None:
    def forward(self: Block, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)

    Block2.forward = forward  # type: ignore[method-assign]


def _class_changed(model: Net) -> None:
    model.blocks[1].__class__ = Block2


CHANGES: list[Callable[[Net], None]] = [
    _replace_head,
    _add_module,
    _remove_module,
    _rename_module,
    _replace_parameter,
    _grow_parameter,
    _drop_parameter,
    _share_module,
    _change_class,
    _add_hook,
    _config_of_another_class,
    _attribute_becomes_config,
    _attribute_added_and_removed,
]


def _then(first: Callable[[Net], None], second: Callable[[Net], None]) -> Callable[[Net], None]:
    def both(model: Net) -> None:
        first(model)
        _trace(model)
        second(model)

    both.__name__ = f"{first.__name__}_then{second.__name__}"
    return both


def _sizes_to_config(model: Net) -> None:
    model.blocks[0].sizes = 3
    model.blocks[1].pair = (1, 2)


CHANGES += [_then(_attribute_becomes_config, _sizes_to_config), _then(_class_changed, _forward_replaced)]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__.strip("_") for change in CHANGES])
def test_a_model_changed_between_two_traces_is_read_again(change: Callable[[Net], None]) -> None:
    torch.manual_seed(0)
    model = Net()
    _check(model, _trace(model))
    _check(model, _trace(model))  # kept: the same facts
    change(model)
    _check(model, _trace(model))


def test_a_parameter_resized_in_place_is_counted_again() -> None:
    model = Net()
    first = _trace(model)
    model.blocks[0].extra = nn.Parameter(torch.ones(1))
    second = _trace(model)
    model.blocks[0].extra.data = torch.ones(7)  # same object, 7 values
    third = _trace(model)
    assert [t["blocks.0"].num_params for t in (first, second, third)] == [20, 21, 27]
    assert third[""].num_params == sum(p.numel() for p in model.parameters())


def test_a_config_value_changed_between_two_traces_is_read_again() -> None:
    model = Net()
    assert _trace(model)["blocks.0"].config["scale"] == 2
    model.blocks[0].scale = 3
    model.blocks[1].new_flag = True
    t = _trace(model)
    assert t["blocks.0"].config["scale"] == 3
    assert t["blocks.1"].config == {"scale": 2, "new_flag": True}
    model.blocks[1].scale = torch.ones(1)  # no longer a config value
    assert "scale" not in _trace(model)["blocks.1"].config


def test_the_kept_facts_hold_no_module_and_go_with_their_model() -> None:
    model = Net()
    _trace(model)
    _trace(model)
    key = id(model)
    assert key in model_facts._kept
    head = weakref.ref(model.head)
    model.head = nn.Linear(4, 2)
    gc.collect()
    assert head() is None  # the old head is not kept alive by the facts
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
    assert key not in model_facts._kept


def test_a_model_copied_or_pickled_while_traced_carries_nothing_of_the_trace() -> None:
    model = Net()
    _trace(model)
    with shapetrace.trace(model, ops=False):
        model(torch.ones(3, 4))
        copied = copy.deepcopy(model)
        loaded = pickle.loads(pickle.dumps(model))
    for other in (copied, loaded):
        for module in other.modules():
            assert not module._forward_pre_hooks_with_kwargs
            assert not module._forward_hooks and not module._forward_pre_hooks
    for module in model.modules():
        assert not module._forward_pre_hooks_with_kwargs
    # The copy is a model of its own: traced, it is read as one.
    t = _trace(copied)
    assert t["head"].num_params == 10


def test_nested_traces_of_the_same_model_each_pass_kwargs() -> None:
    class Keyword(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
            return self.fc(x) * scale

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Keyword()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x, scale=torch.ones(3, 4))

    model = Outer()
    _trace(model)
    with shapetrace.trace(model, ops=False) as outer:
        with shapetrace.trace(model, ops=False) as inner:
            model(torch.ones(3, 4))
        model(torch.ones(3, 4))
    assert [len(call.inputs) for call in inner.calls_of("inner")] == [2]
    assert [len(call.inputs) for call in outer.calls_of("inner")] == [2, 2]
    for module in model.modules():
        assert not module._forward_pre_hooks_with_kwargs
