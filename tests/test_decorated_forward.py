"""Decorated forwards (``functools.wraps`` chains): the annotated source is the real
forward's, its lines carry the shapes, and a forward decorated by torch itself
(``@torch.no_grad()``) is still the user's code, its ops recorded. Hugging Face's
decorated forwards: tests/test_real_models.py."""

from __future__ import annotations

import functools

import torch
from torch import nn

import shapetrace


def passthrough(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        return func(self, *args, **kwargs)

    return wrapper


def returns_tuple(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        out = func(self, *args, **kwargs)
        return (out,)

    return wrapper


class Decorated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 4)

    @returns_tuple
    @passthrough
    def forward(self, x):
        y = self.proj(x)
        return y.transpose(0, 1)


class NoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 4)

    @torch.no_grad()
    def forward(self, x):
        return self.proj(x).flatten()


def test_annotate_shows_the_wrapped_forward() -> None:
    model = Decorated()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 8))
    text = t.annotate()
    header = text.splitlines()[0]
    assert header.startswith("# Decorated.forward (root)"), header
    assert "def wrapper" not in text
    proj_line = next(line for line in text.splitlines() if "y = self.proj(x)" in line)
    assert "(3, 4)" in proj_line
    transpose_line = next(line for line in text.splitlines() if "y.transpose(0, 1)" in line)
    assert "(4, 3)" in transpose_line
    assert t.root.defined_at is not None and t.root.defined_at.function == "forward"


def test_a_forward_decorated_by_torch_is_user_code() -> None:
    model, x = NoGrad(), torch.randn(3, 8)
    with shapetrace.trace(model) as t:
        model(x)
    assert [op.type for op in t.ops] == ["Tensor.flatten"]
    assert t.root.defined_at is not None and t.root.defined_at.function == "forward"
    assert "def forward(self, x):" in t.annotate()
