"""Reading the user's source line that a call was made from.

The trace keeps each call's line (``Location.code``); its argument
expressions tell what a size was written as: ``self.batch_size`` or ``32``
is baked in, ``x.size(0)`` follows the data. Only a line that parses on its
own is read: the first line of a call spread over several lines is not.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from collections.abc import Collection

from ..records import Location

_BATCH_NAME = re.compile(r"batch|(^|_)bs($|_)|^n_?samples$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SourceCall:
    """One call expression of a line: ``receiver.name(*args)``."""

    receiver: str | None
    args: tuple[str, ...]


@functools.lru_cache(maxsize=512)
def _parse(code: str) -> ast.AST | None:
    for text in (code, code + "\n    pass", code.rstrip(":")):
        try:
            return ast.parse(text)
        except SyntaxError:
            continue
    return None


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _args(node: ast.Call) -> tuple[str, ...]:
    args = node.args
    if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):  # view((a, b)) = view(a, b)
        args = args[0].elts
    return tuple(ast.unparse(arg) for arg in args)


def find_call(location: Location | None, names: Collection[str] | None,
              nargs: int | None = None) -> SourceCall | None:
    """The call of one of ``names`` (any name: None) on the line, preferring
    one with ``nargs`` arguments; None when the line does not parse or has
    no such call."""
    tree = _parse(location.code) if location is not None and location.code else None
    if tree is None:
        return None
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (names is None or _call_name(node) in names):
            func = node.func
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else None
            found.append(SourceCall(receiver, _args(node)))
    fitting = [call for call in found if nargs is None or len(call.args) == nargs]
    return next(iter(fitting or found), None)


def subscripted(location: Location | None) -> str | None:
    """``out`` for a line that indexes ``out[:, -1, :]``."""
    tree = _parse(location.code) if location is not None and location.code else None
    if tree is None:
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.Subscript)), None)
    return ast.unparse(node.value) if node is not None else None


def _identifiers(node: ast.AST) -> list[str]:
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.append(sub.attr)
    return names


def names_batch(expression: str) -> bool:
    """True when the expression mentions a batch size by name."""
    try:
        node = ast.parse(expression, mode="eval")
    except SyntaxError:
        return False
    return any(_BATCH_NAME.search(name) for name in _identifiers(node))


def is_fixed(expression: str) -> bool:
    """True when the expression cannot follow the data: literals, attributes
    of ``self`` (set once in ``__init__``), UPPER_CASE constants, and
    arithmetic of those. ``x.size(0)``, ``len(x)`` and plain local names
    (which may have come from the data) are not fixed."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return False
    return _fixed(node)


def _fixed(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int)
    if isinstance(node, ast.Attribute):
        base = node.value
        while isinstance(base, ast.Attribute):
            base = base.value
        return isinstance(base, ast.Name) and base.id == "self"
    if isinstance(node, ast.Name):
        return node.id.isupper()
    if isinstance(node, ast.BinOp):
        return _fixed(node.left) and _fixed(node.right)
    return False


def batch_factor(expression: str) -> str | None:
    """The fixed, batch-named factor of a size: ``self.batch_size`` in
    ``self.batch_size * seq_len``; None when there is none."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    factors = [node]
    while factors:
        factor = factors.pop()
        if isinstance(factor, ast.BinOp) and isinstance(factor.op, ast.Mult):
            factors += [factor.right, factor.left]
        elif _fixed(factor) and names_batch(ast.unparse(factor)):
            return ast.unparse(factor)
    return None
