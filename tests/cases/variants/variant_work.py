"""The work loops the variants share (``make(fixed) -> (model, work)``).

A variant keeps its model, its culprit line and whatever is its own (a DataLoader loop,
a loss line that is the culprit) in its file, and takes the plain loops from here::

    from variant_work import forward, run

    def make(fixed=False):
        torch.manual_seed(0)
        model = Net(fixed)
        return model, forward(model, torch.randn(3, 8))

    if __name__ == "__main__":
        run(make)

- ``forward(model, *inputs)``: one pass, prints the output's shape;
- ``backward(model, *inputs)``: one pass, ``y.sum().backward()``, prints the shape;
- ``train_step(model, loss_fn, x, target)``: ``loss_fn(model(x), target)``, backward,
  prints the loss (``step(loss)`` for a variant that computes its own loss);
- ``epoch(model, loader, loss_of)``: one epoch with Adam, ``loss_of(*batch)`` per batch
  (a variant's own loss line, its culprit maybe), prints the last loss;
- ``run(make)``: the script's entry (``--fixed`` on the command line: the fixed version).

The inputs are made in ``make`` (after the model, so the random draws are those of a
loop that makes them in ``work``). A variant runs as a script (``python FILE``,
``shapetrace run FILE``: its folder is on ``sys.path``, as python puts it); the tests
import this module from this folder too (``tests/case_support.load_file``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import torch
from torch import nn

Work = Callable[[], None]


def forward(model: nn.Module, *inputs: torch.Tensor) -> Work:
    """``work()``: ``model(*inputs)`` once, printing the output's shape."""

    def work() -> None:
        print(model(*inputs).shape)

    return work


def backward(model: nn.Module, *inputs: torch.Tensor) -> Work:
    """``work()``: ``model(*inputs)`` once, then ``.sum().backward()`` on the output."""

    def work() -> None:
        y = model(*inputs)
        y.sum().backward()
        print(y.shape)

    return work


def step(loss: torch.Tensor) -> None:
    """Backward through ``loss`` and print it (a training step without an optimizer)."""
    loss.backward()
    print(f"loss {loss.item():.3f}")


def train_step(model: nn.Module, loss_fn: Callable[..., torch.Tensor], x: torch.Tensor,
               target: torch.Tensor) -> Work:
    """``work()``: ``step(loss_fn(model(x), target))``."""

    def work() -> None:
        step(loss_fn(model(x), target))

    return work


def epoch(model: nn.Module, loader: Iterable, loss_of: Callable[..., torch.Tensor]) -> Work:
    """``work()``: one pass over ``loader`` with ``Adam(lr=1e-3)``: ``loss_of(*batch)``,
    backward and a step per batch, then the last loss printed."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def work() -> None:
        for batch in loader:
            loss = loss_of(*batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"loss {loss.item():.3f}")

    return work


def run(make: Callable[[bool], tuple[nn.Module, Work]]) -> None:
    """Run the variant as its script does: the fixed version with ``--fixed`` in ``sys.argv``."""
    make("--fixed" in sys.argv)[1]()
