"""What a module call records on real models (tests/models/real_models.py),
checked the long way: the recorder's shortcuts (parameter counts made once per
trace for a whole model, shared modules or not; facts cached per class; the
config's filter) give what ``parameters()`` and ``vars()`` give, and a trace
made with every per-class cache cold equals one made with them warm.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import pytest
import torch
from torch import nn

import shapetrace
from shapetrace.record import frames, hooks, model_facts, module_info
from tests.models.real_models import ZOO, RealModel, build

_CONFIG_TYPES = (bool, int, float, str, type(None))
_MODULE_STATE = set(vars(nn.Module())) | {"training"}
# PyTorch's transformer layers copy their attention's batch_first into their config (module_info.py).
_BATCH_FIRST_COPIED = {"TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder"}


def _params() -> list[Any]:
    marks = {True: [pytest.mark.slow], False: []}
    return [pytest.param(entry, id=entry.name, marks=marks[entry.slow]) for entry in ZOO]


def _traced(model: nn.Module, run: Any, ops: bool) -> shapetrace.Trace:
    torch.manual_seed(1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with shapetrace.trace(model, ops=ops) as t:
            run(model)
    return t


def _config(module: nn.Module) -> dict[str, Any]:
    """Public attributes of plain values (or tuples of them), as ``module_config`` documents."""
    return {
        key: value
        for key, value in vars(module).items()
        if key not in _MODULE_STATE
        and not key.startswith("_")
        and (
            isinstance(value, _CONFIG_TYPES)
            or (isinstance(value, tuple)
            and all(isinstance(v, _CONFIG_TYPES) for v in value))
        )
    }


def _cold_caches() -> None:
    """Forget every per-class and per-function fact the recorder keeps across traces."""
    for cache in (module_info._builtin_forward, module_info._public_names, module_info._plain_traversal,
                  module_info._standard_class, hooks._plain_registration, frames._definitions,
                  model_facts._kept):
        cache.clear()


def _fields(t: shapetrace.Trace) -> list[dict[str, Any]]:
    """Every field of every call (its parent and children by id: a Call compares by identity)."""
    return [
        {f.name: getattr(call, f.name) for f in dataclasses.fields(call) if f.name not in ("parent", "children")}
        | {"children": [child.id for child in call.children]}
        for call in t.calls
    ]


@pytest.mark.parametrize("entry", _params())
@pytest.mark.parametrize("ops", [False, True], ids=["modules", "ops"])
def test_module_calls_record_what_the_long_way_gives(entry: RealModel, ops: bool) -> None:
    model, run = build(entry)
    _cold_caches()
    cold = _traced(model, run, ops)
    warm = _traced(model, run, ops)
    assert _fields(cold) == _fields(warm)

    by_name = dict(model.named_modules())
    modules = [call for call in warm.calls if call.kind == "module"]
    assert modules and {call.name for call in modules} <= set(by_name)
    for call in modules:
        module = by_name[call.name]
        assert call.num_params == sum(p.numel() for p in module.parameters()), call.name
        expected = _config(module)
        if type(module).__name__ in _BATCH_FIRST_COPIED:
            expected.setdefault("batch_first", call.config.get("batch_first"))
        assert call.config == expected, call.name
