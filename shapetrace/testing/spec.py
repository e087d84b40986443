"""Shape-spec strings (``"B T 64"``, ``"(B*T) 1"``, ``"... 64"``) and matching.

A spec is whitespace-separated dims: an int, a name (bound on first use, then
required equal everywhere else), ``*`` (any one dim), ``...`` (any number of
dims) or a product in parentheses, ``(B*T)`` or ``(B*T*2)``. Tuples of ints
(``(5, 30, 64)``) are specs too. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from shapetrace.errors import ShapetraceError, SpecSyntaxError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[0-9]+\Z")
# A parenthesised product is one token even with spaces inside: "(B * T)";
# every other run of non-space characters is a token.
_TOKEN = re.compile(r"\([^()]*\)?|[^\s(]+")

Bindings = dict[str, int]


# ---------------------------------------------------------------- the dims
@dataclasses.dataclass(frozen=True)
class Fixed:
    size: int

    def __str__(self) -> str:
        return str(self.size)


@dataclasses.dataclass(frozen=True)
class Named:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class AnyDim:
    def __str__(self) -> str:
        return "*"


@dataclasses.dataclass(frozen=True)
class Rest:
    """``...``: any number of dims, at most once per spec."""

    def __str__(self) -> str:
        return "..."


@dataclasses.dataclass(frozen=True)
class Product:
    factors: tuple[int | str, ...]

    def __str__(self) -> str:
        return "*".join(str(f) for f in self.factors)


SpecDim = Fixed | Named | AnyDim | Rest | Product
SpecLike = str | Sequence[int]


@dataclasses.dataclass(frozen=True)
class ShapeSpec:
    dims: tuple[SpecDim, ...]
    text: str

    @property
    def has_rest(self) -> bool:
        return any(isinstance(d, Rest) for d in self.dims)

    def labels(self) -> list[str]:
        """One label per dim, for printing as a tuple: ``["B*T", "1"]``."""
        return [str(d) for d in self.dims]


# ----------------------------------------------------------------- parsing
def parse_spec(spec: SpecLike | ShapeSpec) -> ShapeSpec:
    """``"B T 64"`` -> ``ShapeSpec(dims=(Named('B'), Named('T'), Fixed(64)))``.

    >>> parse_spec("(B*T) 1").labels()
    ['B*T', '1']
    >>> parse_spec((5, 30, 64)).labels()
    ['5', '30', '64']
    """
    if isinstance(spec, ShapeSpec):
        return spec
    if isinstance(spec, str):
        return _parse_text(spec)
    if isinstance(spec, Sequence):
        return _parse_ints(spec)
    raise ShapetraceError(f"a shape spec is a string like 'B T 64' or a tuple of ints, not {type(spec).__name__}")


def _parse_ints(spec: Sequence[object]) -> ShapeSpec:
    dims: list[SpecDim] = []
    for position, size in enumerate(spec):
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise SpecSyntaxError(str(tuple(spec)), repr(size), position, "a tuple spec holds ints >= 0 only")
        dims.append(Fixed(size))
    return ShapeSpec(tuple(dims), str(tuple(spec)))


def _parse_text(spec: str) -> ShapeSpec:
    dims: list[SpecDim] = []
    for match in _TOKEN.finditer(spec):
        dims.append(_parse_token(spec, match.group(), match.start()))
        if isinstance(dims[-1], Rest) and dims.count(Rest()) > 1:
            raise SpecSyntaxError(spec, match.group(), match.start(), "'...' may appear only once")
    return ShapeSpec(tuple(dims), spec)


def _parse_token(spec: str, token: str, position: int) -> SpecDim:
    if token == "*":
        return AnyDim()
    if token == "...":
        return Rest()
    if _INT.match(token):
        return Fixed(int(token))
    if _NAME.match(token):
        return Named(token)
    if token.startswith("("):
        return _parse_product(spec, token, position)
    raise SpecSyntaxError(spec, token, position, "a dim is an int, a name, '*', '...' or a product like (B*T)")


def _parse_product(spec: str, token: str, position: int) -> Product:
    if not token.endswith(")"):
        raise SpecSyntaxError(spec, token, position, "unbalanced parenthesis")
    factors: list[int | str] = []
    for factor in token[1:-1].split("*"):
        factor = factor.strip()
        if _INT.match(factor):
            factors.append(int(factor))
        elif _NAME.match(factor):
            factors.append(factor)
        else:
            raise SpecSyntaxError(spec, token, position, "a product multiplies ints and names: (B*T), (B*T*2)")
    return Product(tuple(factors))


# ---------------------------------------------------------------- matching
@dataclasses.dataclass(frozen=True)
class Match:
    """The outcome of matching one shape: new bindings, or why it failed.

    ``pending`` marks a product with more than one unbound name: it can be
    decided once other shapes bind them.
    """

    bindings: Bindings
    reason: str | None = None
    pending: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None and not self.pending


def match_shape(spec: ShapeSpec, shape: Sequence[int], bindings: Mapping[str, int] | None = None) -> Match:
    """Match ``shape`` against ``spec`` given earlier ``bindings``.

    >>> match_shape(parse_spec("B T 64"), (5, 30, 64)).bindings
    {'B': 5, 'T': 30}
    >>> match_shape(parse_spec("B T 64"), (5, 30, 32), {"B": 5}).reason
    'dim 2: expected 64, got 32'
    """
    aligned = _align(spec, tuple(shape))
    if isinstance(aligned, str):
        return Match({}, aligned)
    bound: Bindings = dict(bindings or {})
    products: list[tuple[int, Product, int]] = []
    for index, dim, size in aligned:
        if isinstance(dim, Product):
            products.append((index, dim, size))
            continue
        reason = _match_dim(dim, size, bound)
        if reason:
            return Match({}, f"dim {index}: {reason}")
    # Products go last so that plain names elsewhere in the shape bind first.
    for index, product, size in products:
        unbound = _unbound(product, bound)
        if len(unbound) > 1:
            return Match(
                {}, f"dim {index}: cannot tell {' and '.join(unbound)} apart in ({product}) = {size}", pending=True
            )
        reason = _match_product(product, size, bound)
        if reason:
            return Match({}, f"dim {index}: {reason}")
    return Match({k: v for k, v in bound.items() if k not in (bindings or {})})


def _align(spec: ShapeSpec, shape: tuple[int, ...]) -> list[tuple[int, SpecDim, int]] | str:
    """(index, dim, size) triples, ``...`` expanded, or why the ranks differ."""
    dims = spec.dims
    if not spec.has_rest:
        if len(dims) != len(shape):
            return f"expected {len(dims)} dims, got {len(shape)}"
        return list(zip(range(len(shape)), dims, shape))
    rest = dims.index(Rest())
    head, tail = dims[:rest], dims[rest + 1 :]
    if len(shape) < len(head) + len(tail):
        return f"expected at least {len(head) + len(tail)} dims, got {len(shape)}"
    tail_start = len(shape) - len(tail)
    return [*zip(range(len(head)), head, shape), *zip(range(tail_start, len(shape)), tail, shape[tail_start:])]


def _match_dim(dim: SpecDim, size: int, bound: Bindings) -> str | None:
    if isinstance(dim, Fixed) and dim.size != size:
        return f"expected {dim.size}, got {size}"
    if isinstance(dim, Named):
        if dim.name not in bound:
            bound[dim.name] = size
        elif bound[dim.name] != size:
            return f"expected {dim.name}={bound[dim.name]}, got {size}"
    return None


def _unbound(product: Product, bound: Bindings) -> list[str]:
    return list(dict.fromkeys(f for f in product.factors if isinstance(f, str) and f not in bound))


def _match_product(product: Product, size: int, bound: Bindings) -> str | None:
    """Check a product with at most one unbound name, solving for that name."""
    known = math.prod(bound.get(f, 1) if isinstance(f, str) else f for f in product.factors)
    unbound = _unbound(product, bound)
    if not unbound:
        return None if known == size else f"expected ({product}) = {known}, got {size}"
    # (B*T) = 150 with B=5 gives T=30; (B*B) = 25 gives B=5.
    name, power = unbound[0], product.factors.count(unbound[0])
    solution = round((size / known) ** (1 / power)) if known else 0
    if known and solution**power * known == size:
        bound[name] = solution
        return None
    context = f" with {format_bindings(bound)}" if bound else ""
    return f"expected ({product}), got {size}: no {name} fits{context}"


def match_all(pairs: Iterable[tuple[ShapeSpec, Sequence[int]]]) -> tuple[list[Match], Bindings]:
    """Match shapes in order, sharing names; retry products that waited on later names.

    Only successful matches bind names, so one wrong shape does not make the
    others look wrong.

    >>> results, bindings = match_all([(parse_spec("(B*T) 1"), (150, 1)), (parse_spec("B T 64"), (5, 30, 64))])
    >>> [r.ok for r in results], bindings
    ([True, True], {'B': 5, 'T': 30})
    """
    pairs = list(pairs)
    results: list[Match | None] = [None] * len(pairs)
    bindings: Bindings = {}
    progress = True
    while progress:
        progress = False
        for i, (spec, shape) in enumerate(pairs):
            earlier = results[i]
            if earlier is not None and not earlier.pending:
                continue
            result = match_shape(spec, shape, bindings)
            results[i] = result
            if result.ok:
                bindings.update(result.bindings)
                progress = True
    return [r for r in results if r is not None], bindings


def format_bindings(bindings: Mapping[str, int]) -> str:
    """``B=5, T=30``."""
    return ", ".join(f"{name}={size}" for name, size in bindings.items())
