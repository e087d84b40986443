"""``--input 5x30x7:float64``: parsing input specs and making the tensors."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import torch

from shapetrace.errors import ShapetraceError

_DTYPES = {
    "float": torch.float32,
    "float32": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "long": torch.int64,
    "int64": torch.int64,
    "int": torch.int32,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_DIM = re.compile(r"^(\d+|[A-Za-z_]\w*)$")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input: its dims (ints, or names bound by ``--vary``) and dtype."""

    dims: tuple[int | str, ...]
    dtype: torch.dtype = torch.float32

    def resolve(self, sizes: dict[str, int]) -> tuple[int, ...]:
        try:
            return tuple(d if isinstance(d, int) else sizes[d] for d in self.dims)
        except KeyError as name:
            raise ShapetraceError(f"--input uses the dimension {name} but no --vary gives it") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d for d in self.dims if isinstance(d, str))


def parse_input_spec(text: str) -> InputSpec:
    """``"5x30"``, ``"5x30x7:float64"``, ``"3x6:long"``, ``"BxTx7"``."""
    shape_text, _, dtype_text = text.strip().partition(":")
    dtype = torch.float32
    if dtype_text:
        dtype = _DTYPES.get(dtype_text.lower())  # type: ignore[assignment]
        if dtype is None:
            raise ShapetraceError(
                f"--input {text!r}: unknown dtype {dtype_text!r} (choose from {', '.join(sorted(_DTYPES))})"
            )
    parts = shape_text.split("x") if shape_text else []
    if not parts or not all(_DIM.match(p) for p in parts):
        raise ShapetraceError(f"--input {text!r}: expected sizes joined by 'x', e.g. 5x30 or 5x30x7:float64")
    dims = tuple(int(p) if p.isdigit() else p for p in parts)
    return InputSpec(dims, dtype)


def make_input(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str, index_limit: int
) -> torch.Tensor:
    """A random tensor; integer inputs are valid indices below ``index_limit``
    (the smallest embedding table of the model), so embeddings accept them."""
    try:
        if dtype == torch.bool:
            return torch.zeros(shape, dtype=dtype, device=device)
        if dtype.is_floating_point:
            return torch.randn(shape, dtype=dtype, device=device)
        return torch.randint(0, max(index_limit, 1), shape, dtype=dtype, device=device)
    except RuntimeError as failed:  # too large to allocate, or to count in 64 bits
        reason = str(failed).splitlines()[0]
        hint = "" if torch.device(device).type == "meta" else " (--device meta traces shapes without memory)"
        raise ShapetraceError(
            f"--input {'x'.join(map(str, shape))}: cannot make this tensor on {device}: {reason}{hint}"
        ) from None


def index_limit(model: torch.nn.Module) -> int:
    """The smallest ``num_embeddings`` in the model (2 when it has none)."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    return min(sizes) if sizes else 2


def parse_vary(texts: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["B=8,3", "T=24,11"]`` -> ``{"B": (8, 3), "T": (24, 11)}``."""
    sizes: dict[str, tuple[int, ...]] = {}
    for text in texts:
        name, _, values = text.partition("=")
        try:
            sizes[name.strip()] = tuple(int(v) for v in values.split(","))
        except ValueError:
            raise ShapetraceError(f"--vary {text!r}: expected NAME=SIZE,SIZE, e.g. B=8,3") from None
        if not name.strip().isidentifier():
            raise ShapetraceError(f"--vary {text!r}: expected NAME=SIZE,SIZE, e.g. B=8,3")
    return sizes
