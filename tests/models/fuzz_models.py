"""Random models for the property-based tests, built from plain-data plans.

A plan is a list of blocks, each a tuple such as ``("linear", 6)`` or
``("rnn", "lstm", 5, 2, True, False, True)``; hypothesis draws plans and
``build_model`` turns one into a module stack over a ``(B, T, F)`` sequence.
Every user-written forward runs its tensor ops through an ``OpLog``, which
notes each op's name and the real shapes it saw (shapes only, never a
tensor), so a test can compare them with what shapetrace recorded.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple[int, ...]
Plan = Sequence[tuple]
Tensor = torch.Tensor


def tensors_in(value: Any) -> list[Tensor]:
    """Tensors of a nested value in the order shapetrace lists them (dicts by insertion)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [t for f in dataclasses.fields(value) for t in tensors_in(getattr(value, f.name))]
    return []


def signature(value: Any) -> list[tuple]:
    """What shapetrace must record of each tensor: shape, dtype, stride, contiguity, grad."""
    return [(tuple(t.shape), t.dtype, tuple(t.stride()), t.is_contiguous(), t.requires_grad)
            for t in tensors_in(value)]


@dataclasses.dataclass
class OpEntry:
    owner: int | None  # id() of the module whose forward ran the op; None outside any
    name: str
    inputs: list[tuple]
    outputs: list[tuple]


class OpLog:
    """Runs the user's ops and notes what each saw; keeps weak references only."""

    def __init__(self) -> None:
        self.entries: list[OpEntry] = []
        self.refs: list[weakref.ref] = []

    def reset(self) -> None:
        self.entries, self.refs = [], []

    def __call__(self, owner: nn.Module | None, name: str, fn: Callable, *args: Any) -> Any:
        inputs = signature(args)  # before the call: an in-place op changes its input
        result = fn(*args)
        self.entries.append(OpEntry(None if owner is None else id(owner), name, inputs, signature(result)))
        self.refs += [weakref.ref(t) for t in tensors_in(result)]
        return result


# ------------------------------------------------------------- op blocks
# name -> (usable for features f, new feature count, forward(block, x))
OpFn = Callable[["OpsBlock", Tensor], Tensor]


def _reshape_back(b: OpsBlock, x: Tensor) -> Tensor:
    flat = b.log(b, "reshape", torch.reshape, x, (-1, x.shape[-1]))
    return b.log(b, "view", Tensor.view, flat, x.shape)


def _transpose_twice(b: OpsBlock, x: Tensor) -> Tensor:
    y = b.log(b, "transpose", Tensor.transpose, x, 1, 2)
    y = b.log(b, "contiguous", Tensor.contiguous, y)
    return b.log(b, "transpose", Tensor.transpose, y, 1, 2)


def _in_place(b: OpsBlock, x: Tensor) -> Tensor:
    y = b.log(b, "clone", torch.clone, x)
    return b.log(b, "mul_", Tensor.mul_, y, 0.5)


def _set_item(b: OpsBlock, x: Tensor) -> Tensor:
    y = b.log(b, "clone", torch.clone, x)
    b.log(b, "__setitem__", Tensor.__setitem__, y, (Ellipsis, 0), 0.0)
    return y


def _view_of_view(b: OpsBlock, x: Tensor) -> Tensor:
    y = b.log(b, "unsqueeze", torch.unsqueeze, x, 0)
    y = b.log(b, "__getitem__", Tensor.__getitem__, y, 0)
    return b.log(b, "narrow", Tensor.narrow, y, 2, 0, y.shape[2])


def _mean_expand(b: OpsBlock, x: Tensor) -> Tensor:
    mean = b.log(b, "mean", torch.mean, x, 1, True)
    return b.log(b, "expand_as", Tensor.expand_as, mean, x)


OPS: dict[str, tuple[Callable[[int], bool], Callable[[int], int], OpFn]] = {
    "relu": (lambda f: True, lambda f: f, lambda b, x: b.log(b, "relu", F.relu, x)),
    "tanh": (lambda f: True, lambda f: f, lambda b, x: b.log(b, "tanh", torch.tanh, x)),
    "mul": (lambda f: True, lambda f: f, lambda b, x: b.log(b, "mul", torch.mul, x, 2.0)),
    "add": (lambda f: True, lambda f: f, lambda b, x: b.log(b, "add", torch.add, x, x)),
    "softmax": (lambda f: True, lambda f: f, lambda b, x: b.log(b, "softmax", F.softmax, x, -1)),
    "reshape": (lambda f: True, lambda f: f, _reshape_back),
    "transpose": (lambda f: True, lambda f: f, _transpose_twice),
    "in_place": (lambda f: True, lambda f: f, _in_place),
    "set_item": (lambda f: True, lambda f: f, _set_item),
    "view_of_view": (lambda f: True, lambda f: f, _view_of_view),
    "mean": (lambda f: True, lambda f: f, _mean_expand),
    "slice": (lambda f: f >= 2, lambda f: f // 2,
              lambda b, x: b.log(b, "__getitem__", Tensor.__getitem__, x, (Ellipsis, slice(None, x.shape[-1] // 2)))),
    "cat": (lambda f: f <= 12, lambda f: 2 * f, lambda b, x: b.log(b, "cat", torch.cat, [x, x], -1)),
    "chunk": (lambda f: True, lambda f: math.ceil(f / 2), lambda b, x: b.log(b, "chunk", torch.chunk, x, 2, -1)[0]),
}
SHAPE_KEEPING_OPS = sorted(name for name, (_, size, _) in OPS.items() if all(size(f) == f for f in range(1, 30)))


class OpsBlock(nn.Module):
    """A user's forward of plain tensor ops between modules."""

    def __init__(self, names: Sequence[str], features: int, log: OpLog) -> None:
        super().__init__()
        self.log = log
        self.names = []
        for name in names:
            usable, size, _ = OPS[name]
            if usable(features):
                self.names.append(name)
                features = size(features)
        self.features = features

    def forward(self, x):
        for name in self.names:
            x = OPS[name][2](self, x)
        return x


# --------------------------------------------------------- module blocks
class Conv1dBlock(nn.Module):
    def __init__(self, features: int, time: int, out: int, kernel: int, same: bool, log: OpLog) -> None:
        super().__init__()
        padding = kernel // 2 if same or time < kernel else 0
        self.conv = nn.Conv1d(features, out, kernel, padding=padding)
        self.log = log
        self.time = time + 2 * padding - kernel + 1

    def forward(self, x):
        y = self.conv(self.log(self, "transpose", Tensor.transpose, x, 1, 2))
        return self.log(self, "transpose", Tensor.transpose, y, 1, 2)


class Conv2dBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, log: OpLog) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, kernel, padding=kernel // 2)
        self.log = log

    def forward(self, x):
        y = self.conv(self.log(self, "unsqueeze", Tensor.unsqueeze, x, 1))  # (B, C, T, F)
        y = self.log(self, "permute", Tensor.permute, y, 0, 2, 1, 3)
        return self.log(self, "flatten", Tensor.flatten, y, 2)


RNNS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNBlock(nn.Module):
    def __init__(self, features: int, cell: str, hidden: int, layers: int, bidirectional: bool,
                 batch_first: bool, initial_state: bool, log: OpLog) -> None:
        super().__init__()
        self.rnn = RNNS[cell](features, hidden, num_layers=layers, bidirectional=bidirectional,
                              batch_first=batch_first, dropout=0.25 if layers > 1 else 0.0)
        self.log = log
        self.state_shape = (layers * (2 if bidirectional else 1), hidden)
        self.initial_state = initial_state
        self.features = hidden * (2 if bidirectional else 1)

    def forward(self, x):
        batch_first = self.rnn.batch_first
        if not batch_first:
            x = self.log(self, "transpose", Tensor.transpose, x, 0, 1)
        if self.initial_state:
            layers, hidden = self.state_shape
            h0 = self.log(self, "new_zeros", Tensor.new_zeros, x, (layers, x.shape[0 if batch_first else 1], hidden))
            out, _ = self.rnn(x, (h0, h0) if isinstance(self.rnn, nn.LSTM) else h0)
        else:
            out, _ = self.rnn(x)
        return out if batch_first else self.log(self, "transpose", Tensor.transpose, out, 0, 1)


class EmbeddingBlock(nn.Module):
    """Indices computed in the forward, then looked up (an int64 input to a module)."""

    def __init__(self, features: int, num: int, dim: int, log: OpLog) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max(num, features), dim)
        self.log = log

    def forward(self, x):
        return self.embedding(self.log(self, "argmax", torch.argmax, x, -1))


class AttentionBlock(nn.Module):
    def __init__(self, features: int, heads: int, batch_first: bool, need_weights: bool, log: OpLog) -> None:
        super().__init__()
        heads = heads if features % heads == 0 else 1
        self.attention = nn.MultiheadAttention(features, heads, batch_first=batch_first)
        self.need_weights = need_weights
        self.log = log

    def forward(self, x):
        if not self.attention.batch_first:
            x = self.log(self, "transpose", Tensor.transpose, x, 0, 1)
        out, _ = self.attention(x, x, x, need_weights=self.need_weights)
        return out if self.attention.batch_first else self.log(self, "transpose", Tensor.transpose, out, 0, 1)


class ListBlock(nn.Module):
    """Children in a ModuleList, iterated by the user's forward."""

    def __init__(self, children: Sequence[nn.Module]) -> None:
        super().__init__()
        self.items = nn.ModuleList(children)

    def forward(self, x):
        for child in self.items:
            x = child(x)
        return x


class DictBlock(nn.Module):
    """Children in a ModuleDict, looked up by key."""

    def __init__(self, children: Sequence[nn.Module]) -> None:
        super().__init__()
        self.items = nn.ModuleDict({f"step{i}": child for i, child in enumerate(children)})

    def forward(self, x):
        for key in self.items:
            x = self.items[key](x)
        return x


class ReuseBlock(nn.Module):
    """One submodule registered under two names and called several times."""

    def __init__(self, shared: nn.Module, times: int) -> None:
        super().__init__()
        self.shared = shared
        self.alias = shared
        self.times = times

    def forward(self, x):
        for step in range(self.times):
            x = (self.shared if step % 2 == 0 else self.alias)(x)
        return x


# ---------------------------------------------------------------- building
@dataclasses.dataclass
class Sizes:
    time: int
    features: int


def build_block(block: tuple, sizes: Sizes, log: OpLog) -> nn.Module:
    """The module for one block of a plan; updates ``sizes`` to its output's."""
    kind, *args = block
    f = sizes.features
    if kind == "linear":
        sizes.features = args[0]
        return nn.Linear(f, args[0])
    if kind == "layernorm":
        return nn.LayerNorm(f)
    if kind == "dropout":
        return nn.Dropout(args[0])
    if kind == "ops":
        ops = OpsBlock(args[0], f, log)
        sizes.features = ops.features
        return ops
    if kind == "conv1d":
        conv = Conv1dBlock(f, sizes.time, *args, log=log)
        sizes.features, sizes.time = args[0], conv.time
        return conv
    if kind == "conv2d":
        sizes.features = args[0] * f
        return Conv2dBlock(*args, log=log)
    if kind == "rnn":
        rnn = RNNBlock(f, *args, log=log)
        sizes.features = rnn.features
        return rnn
    if kind == "embedding":
        sizes.features = args[1]
        return EmbeddingBlock(f, *args, log=log)
    if kind == "attention":
        return AttentionBlock(f, *args, log=log)
    if kind == "encoder":
        heads, batch_first = args
        return nn.TransformerEncoderLayer(f, heads if f % heads == 0 else 1, dim_feedforward=2 * f, dropout=0.1,
                                          batch_first=batch_first)
    if kind in ("sequential", "modulelist", "moduledict"):
        children = [build_block(child, sizes, log) for child in args[0]]
        container = {"sequential": nn.Sequential, "modulelist": ListBlock, "moduledict": DictBlock}[kind]
        return container(*children) if kind == "sequential" else container(children)
    if kind == "reuse":
        times, inner = args
        before = dataclasses.replace(sizes)
        shared = build_block(inner, sizes, log)
        assert sizes == before, f"{inner} changes the shape and cannot be reused"
        return ReuseBlock(shared, times)
    raise ValueError(f"unknown block {kind!r}")


@dataclasses.dataclass
class FuzzOutput:
    out: Tensor
    extra: dict


class FuzzModel(nn.Module):
    """The root: an optional embedding front, the plan's blocks, a chosen output structure."""

    def __init__(self, plan: Plan, *, time: int, features: int, ids: bool, output: str, log: OpLog) -> None:
        super().__init__()
        self.log = log
        self.front = nn.Embedding(11, features) if ids else None
        sizes = Sizes(time, features)
        self.blocks = nn.ModuleList(build_block(block, sizes, log) for block in plan)
        self.output = output
        self.out_features = sizes.features

    def forward(self, x, *, scale=None):
        if self.front is not None:
            x = self.front(x)
        if scale is not None:
            x = self.log(self, "mul", torch.mul, x, scale)
        for block in self.blocks:
            x = block(x)
        if self.output == "tuple":
            return x, None
        if self.output == "dict":
            return {"out": x, "parts": [self.log(self, "sum", torch.sum, x, -1), "label", 3]}
        if self.output == "dataclass":
            return FuzzOutput(x, {"none": None, "mean": self.log(self, "mean", torch.mean, x)})
        return x


def build_model(plan: Plan, *, time: int, features: int, ids: bool, output: str, seed: int,
                log: OpLog) -> FuzzModel:
    torch.manual_seed(seed)
    return FuzzModel(plan, time=time, features=features, ids=ids, output=output, log=log)


def make_inputs(*, batch: int, time: int, features: int, ids: bool, scale: bool,
                seed: int) -> tuple[tuple, dict]:
    generator = torch.Generator().manual_seed(seed)
    if ids:
        x = torch.randint(0, 11, (batch, time), generator=generator)
    else:
        x = torch.randn(batch, time, features, generator=generator)
    kwargs = {"scale": torch.rand(1, time, 1, generator=generator) + 0.5} if scale else {}
    return (x,), kwargs
