"""Real models nobody here wrote (tests/models/real_models.py), traced with ops on.

Each one: outputs bit-identical traced and untraced, every module call's
recorded output shapes equal to what a plain forward hook sees, no finding
(these models are correct), and for Hugging Face's decorated forwards an
annotated source that shows the real ``forward`` with shapes on its lines. Models whose library is missing
skip (the ``real`` extra installs them).
"""

from __future__ import annotations

import collections
import re
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils import _pytree as pytree

import shapetrace
from tests.models.real_models import ZOO, RealModel, build


def _params() -> list[Any]:
    marks = {True: [pytest.mark.slow], False: []}
    return [pytest.param(entry, id=entry.name, marks=marks[entry.slow]) for entry in ZOO]


def _tensors(value: Any) -> list[torch.Tensor]:
    # pytree knows tuples, lists, dicts and (registered by transformers) ModelOutput
    return [leaf for leaf in pytree.tree_leaves(value) if isinstance(leaf, torch.Tensor)]


def _run(model: nn.Module, run: Any) -> Any:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(model)


def _hooked_shapes(model: nn.Module, run: Any) -> dict[str, list[list[tuple[int, ...]]]]:
    """Per module name, per call: the sorted output shapes a plain forward hook sees.

    A global hook, as a per-module one would switch off ``TransformerEncoderLayer``'s
    fused path (its children would then run, untraced they do not).
    """
    names = {id(module): name for name, module in model.named_modules()}
    seen: dict[str, list[list[tuple[int, ...]]]] = collections.defaultdict(list)

    def hook(module: nn.Module, _args: Any, output: Any) -> None:
        if id(module) in names:
            seen[names[id(module)]].append(sorted(tuple(t.shape) for t in _tensors(output)))

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        _run(model, run)
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("entry", _params())
def test_real_model_traces_exactly(entry: RealModel) -> None:
    model, run = build(entry)
    torch.manual_seed(1)
    plain = _run(model, run)
    torch.manual_seed(1)
    with shapetrace.trace(model) as t:
        traced = _run(model, run)
    assert t.error is None
    plain_leaves, traced_leaves = _tensors(plain), _tensors(traced)
    assert len(plain_leaves) == len(traced_leaves) > 0
    for a, b in zip(plain_leaves, traced_leaves):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.equal(a, b), f"{entry.name}: traced output differs"
    assert t.findings == [], [f.message for f in t.findings]

    recorded: dict[str, list[list[tuple[int, ...]]]] = collections.defaultdict(list)
    for call in t.calls:
        if call.kind == "module":
            recorded[call.name].append(sorted(tuple(m.shape) for m in call.outputs))
    hooked = _hooked_shapes(model, run)
    assert set(recorded) == set(hooked)
    for name, calls in hooked.items():
        assert recorded[name] == calls, f"{entry.name} {name or '(root)'}"

    if entry.library == "transformers":
        _assert_annotates_the_real_forward(model, t.annotate())


def _assert_annotates_the_real_forward(model: nn.Module, text: str) -> None:
    """Every block is a ``forward`` (never a decorator's ``wrapper``), the root's with shapes."""
    headers = [line for line in text.splitlines() if line.startswith("# ") and " · " in line]
    assert all(re.match(r"# [\w, ]+\.forward \(", h) for h in headers), [h for h in headers if ".forward (" not in h]
    assert "def wrapper(" not in text
    root = [block for block in ("\n" + text).split("\n# ") if block.startswith(f"{type(model).__name__}.forward (root")]
    assert len(root) == 1, headers
    assert re.search(r" {2}# .*\(\d+(, \d+)*\)", root[0]), root[0][-2000:]
