"""Models that fail, misbehave or return odd values, for the fault tests."""

from __future__ import annotations

import dataclasses
import warnings
from typing import ClassVar

import torch
from torch import nn


class Level(nn.Module):
    """One level of a chain of user modules; ``fail`` picks how this level fails.

    ``"op"``: a view that does not fit; ``"module"``: a Linear fed the wrong
    feature count; ``"raise"``: the forward raises itself (``error`` sets what).
    """

    def __init__(self, child: nn.Module | None) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.wrong = nn.Linear(5, 4)
        self.child = child
        self.fail: str | None = None
        self.error: BaseException = ValueError("level failed on purpose")

    def forward(self, x):
        y = self.fc(x).relu()
        if self.fail == "op":
            y = y.view(-1, 7)
        elif self.fail == "module":
            y = self.wrong(y)
        elif self.fail == "raise":
            raise self.error
        return self.child(y) if self.child is not None else y


def chain(levels: int = 3) -> list[Level]:
    """``levels`` nested Levels, outermost first."""
    torch.manual_seed(0)
    made: list[Level] = []
    child = None
    for _ in range(levels):
        child = Level(child)
        made.append(child)
    return made[::-1]


class Interrupting(nn.Module):
    """Raises KeyboardInterrupt from inside a built-in module on its first pass only."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        self.passes = 0
        self.body[1].register_forward_pre_hook(self._interrupt_once)

    def _interrupt_once(self, module, args):
        self.passes += 1
        if self.passes == 1:
            raise KeyboardInterrupt

    def forward(self, x):
        return self.body(x).sum(-1)


class Generating(nn.Module):
    """A forward that is a generator: the calls happen while the caller iterates."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        for step in range(2):
            yield self.fc(x) * step


@dataclasses.dataclass
class Inner:
    logits: torch.Tensor
    note: str


@dataclasses.dataclass
class Outer:
    inner: Inner
    extras: dict
    nothing: None = None


class OddOutputs(nn.Module):
    """Returns ``kind``: None, plain Python values, nested dicts and dataclasses."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.kind = kind

    def forward(self, x):
        y = self.fc(x)
        if self.kind == "none":
            return None
        if self.kind == "python":
            return 3, "text", 2.5, [None, {"k": (1, 2)}]
        if self.kind == "nested_dict":
            return {"a": {"b": {"c": y}}, "d": [y.sum(), {"e": None}], 7: y.t()}
        return Outer(Inner(y, "ok"), {"mean": y.mean(0), "list": [y[:1], "x"]})


class Tagged(torch.Tensor):
    """A user's tensor subclass that counts the torch functions it sees."""

    seen: ClassVar[list[str]] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.seen.append(getattr(func, "__name__", type(func).__name__))
        return super().__torch_function__(func, types, args, kwargs or {})


class Scaled(nn.Module):
    """Uses a parameter directly in its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, x):
        return self.fc(x) * self.scale


class SelfHooked(nn.Module):
    """Registers its own hooks: one rescales the input, one widens a child's
    output, and the forward adds and removes a hook on a child while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.head = nn.Linear(8, 2)
        self.seen: list[tuple[int, ...]] = []
        self.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
        self.fc.register_forward_hook(lambda module, args, out: torch.cat([out, out.tanh()], -1))

    def forward(self, x):
        handle = self.head.register_forward_hook(lambda module, args, out: self.seen.append(tuple(out.shape)))
        try:
            return self.head(self.fc(x))
        finally:
            handle.remove()


class Scriptable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))


class WithScripted(nn.Module):
    """A user module around a ``torch.jit.script``'ed submodule."""

    def __init__(self) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in favour of compile
            self.scripted = torch.jit.script(Scriptable())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.scripted(x) * 2)


class InPlace(nn.Module):
    """In-place ops that change shapes, and views of views."""

    def forward(self, x):
        x = x.clone()
        x.unsqueeze_(0)
        x.squeeze_(0)
        x.t_()
        x[0] = 1.0
        v = x.reshape(-1).view(2, -1)[1].unsqueeze(0)
        x.add_(v.view(x.shape[0], -1)[0].clone())
        return x, v


def hook_state(model: nn.Module) -> list:
    """Every forward/backward hook of the model's modules and of the process, and
    the torch-function mode stack: what a trace must leave as it found it."""
    attrs = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
             "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")
    per_module = [sorted(getattr(m, attr)) for m in model.modules() for attr in attrs]
    global_hooks = {name: sorted(value) for name, value in vars(nn.modules.module).items()
                    if name.startswith("_global") and isinstance(value, dict) and value}
    return [per_module, global_hooks, torch._C._len_torch_function_stack()]


class RefusesHooks(nn.Module):
    """A module class that refuses forward hooks, as ScriptModules do."""

    def register_forward_pre_hook(self, *args, **kwargs):
        raise RuntimeError("no hooks here")

    def forward(self, x):
        return x


class ChainedViews(nn.Module):
    """Two views on one line, the first on a transposed (non-contiguous) tensor."""

    def forward(self, x):
        x = x.t()
        return x.view(-1).view(2, 8)
