"""Models that fail, misbehave or return odd values, for the fault tests."""

from __future__ import annotations

import dataclasses
import warnings
from typing import ClassVar

import torch
from torch import nn
from torch.utils import _pytree


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
    """A user module around a ``torch.jit.script``'ed (or ``torch.jit.trace``'d) submodule."""

    def __init__(self, how: str = "script") -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in favour of compile
            self.scripted = (torch.jit.script(Scriptable()) if how == "script" else
                             torch.jit.trace(Scriptable(), torch.randn(1, 4)))
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


class Wrapped(torch.Tensor):
    """A ``__torch_dispatch__`` wrapper subclass (as DTensor and FSDP's are):
    its own storage-less tensor around an inner one."""

    @staticmethod
    def __new__(cls, inner: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(cls, inner.shape, strides=inner.stride(), dtype=inner.dtype,
                                                   device=inner.device, requires_grad=inner.requires_grad)

    def __init__(self, inner: torch.Tensor) -> None:
        self.inner = inner

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        def unwrap(value):
            return value.inner if isinstance(value, Wrapped) else value

        def wrap(value):
            return Wrapped(value) if isinstance(value, torch.Tensor) else value

        return _pytree.tree_map(wrap, func(*_pytree.tree_map(unwrap, args), **_pytree.tree_map(unwrap, kwargs or {})))


def tensor_kinds() -> dict[str, tuple[torch.Tensor, tuple[int, ...], str]]:
    """Every kind of tensor PyTorch makes: (the tensor, the shape and layout it is recorded with)."""
    generator = torch.Generator().manual_seed(0)

    def randn(*shape: int, **options) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, **options)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nested, sparse CSR and quantized: prototype, beta, deprecated
        return _tensor_kinds(randn)


def _tensor_kinds(randn) -> dict[str, tuple[torch.Tensor, tuple[int, ...], str]]:
    nested = torch.nested.nested_tensor([randn(2, 4), randn(3, 4), randn(1, 4)])
    jagged = torch.nested.nested_tensor([randn(2, 4), randn(3, 4)], layout=torch.jagged)
    two_ragged = torch.nested.nested_tensor([randn(2, 5), randn(3, 1)])
    return {
        "nested": (nested, (3, 3, 4), "nested"),
        "nested-two-ragged-dims": (two_ragged, (2, 3, 5), "nested"),
        "jagged": (jagged, (2, 3, 4), "nested"),
        "sparse_coo": (randn(3, 4).relu().to_sparse(), (3, 4), "sparse_coo"),
        "sparse_csr": (randn(3, 4).relu().to_sparse_csr(), (3, 4), "sparse_csr"),
        "quantized": (torch.quantize_per_tensor(randn(3, 4), 0.1, 0, torch.qint8), (3, 4), "strided"),
        "complex": (randn(3, 4, dtype=torch.complex64), (3, 4), "strided"),
        "meta": (torch.empty(3, 4, device="meta"), (3, 4), "strided"),
        "mkldnn": (randn(3, 4).to_mkldnn(), (3, 4), "mkldnn"),
        "dispatch-wrapper": (Wrapped(randn(3, 4)), (3, 4), "strided"),
    }


def op_for(kind: str):
    """An op the tensor kind supports (a quantized tensor has no ``*``)."""
    if kind == "quantized":
        return lambda x: x.reshape(x.shape)
    if kind == "mkldnn":
        return lambda x: x.to_dense().to_mkldnn()
    return lambda x: x * 2


class KindPassing(nn.Module):
    """Takes a tensor of any kind; passes it through a module and one op; returns both."""

    def __init__(self, op) -> None:
        super().__init__()
        self.inner = nn.Identity()
        self.op = op

    def forward(self, x):
        y = self.inner(x)
        return self.op(y), {"same": y}


class EncoderModel(nn.Module):
    """A user model around ``nn.TransformerEncoder`` (or ``nn.Transformer``), any masks."""

    def __init__(self, transformer: bool = False, enable_nested_tensor: bool = True, norm_first: bool = False,
                 batch_first: bool = True) -> None:
        super().__init__()
        self.transformer = transformer
        if transformer:
            self.body = nn.Transformer(16, 2, 2, 1, 32, batch_first=batch_first, norm_first=norm_first)
        else:
            layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=batch_first, norm_first=norm_first)
            self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=enable_nested_tensor)

    def forward(self, src, tgt=None, **masks):
        out = self.body(src, tgt, **masks) if self.transformer else self.body(src, **masks)
        return out.sum(-1)
