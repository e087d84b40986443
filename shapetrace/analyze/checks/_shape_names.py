"""The names a function gives a tensor's dims by unpacking its shape.

``B, C, H, W = f.shape`` (or ``f.size()``) names dim 0 of ``f`` ``B``, dim 1 ``C``...
A view of that same tensor written with those names says which of its axes the
user means each output dim to be, also when sizes collide (C == H * W) and the
sizes alone cannot tell. The source is read from the file (``ast``), once.
"""

from __future__ import annotations

import ast
import functools

from shapetrace.analyze.checks._source import parsed_file
from shapetrace.core.records import Location

Unpacking = tuple[int, int, int, str, tuple[str | None, ...], tuple[int, ...]]


def _shape_of(value: ast.AST) -> str | None:
    """``f`` for ``f.shape`` / ``f.size()``, else None."""
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        return ast.unparse(value.value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "size":
        return ast.unparse(value.func.value) if not value.args and not value.keywords else None
    return None


def _assigned(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, tuple[int, ...]]:
    """``{name: lines}`` where ``function`` assigns each name (``=``, ``+=``, a ``for`` target)."""
    assigned: dict[str, list[int]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            targets, line = node.targets, node.lineno
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets, line = [node.target], node.lineno
        else:
            continue
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Name):
                    assigned.setdefault(part.id, []).append(line)
    return {name: tuple(lines) for name, lines in assigned.items()}


@functools.lru_cache(maxsize=64)
def _unpackings(filename: str) -> tuple[Unpacking, ...]:
    """``(function's first line, last line, assignment line, tensor, names, lines
    where the function assigns the tensor anew)`` of each ``a, b, _ = tensor.shape``
    in the file (``None`` for ``_``)."""
    tree = parsed_file(filename)
    if tree is None:
        return ()
    found: list[Unpacking] = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        assigned = _assigned(function)
        for node in ast.walk(function):
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target, tensor = node.targets[0], _shape_of(node.value)
            if tensor is None or not isinstance(target, ast.Tuple):
                continue
            if not all(isinstance(element, ast.Name) for element in target.elts):
                continue  # a starred or nested target: positions unknown
            names = tuple(None if e.id == "_" else e.id for e in target.elts)  # type: ignore[attr-defined]
            end = function.end_lineno or function.lineno
            found.append((function.lineno, end, node.lineno, tensor, names, tuple(assigned.get(tensor, ()))))
    return tuple(found)


def dim_names(location: Location | None, tensor: str, ndim: int) -> dict[str, int]:
    """``{name: dim}`` that the function around ``location`` gave ``tensor``'s
    ``ndim`` dims by the last unpacking of its shape before that line; empty when none."""
    if location is None:
        return {}
    best: Unpacking | None = None
    for unpacking in _unpackings(location.filename):
        first, last, line, name, names, _ = unpacking
        here = name == tensor and first <= location.lineno <= last and line < location.lineno and len(names) == ndim
        if here and (best is None or line > best[2]):
            best = unpacking
    if best is None or any(best[2] < line < location.lineno for line in best[5]):
        return {}  # the name now holds another tensor, maybe of another layout
    return {name: dim for dim, name in enumerate(best[4]) if name is not None}


Function = tuple[int, int, tuple[str, ...], dict[str, tuple[int, ...]]]


@functools.lru_cache(maxsize=64)
def _parameters(filename: str) -> tuple[Function, ...]:
    """``(first line, last line, parameter names, {name: lines it is assigned at})`` of
    each function of the file; a method's names start after its instance (``self``,
    or whatever it is called), a static method's do not."""
    tree = parsed_file(filename)
    if tree is None:
        return ()
    methods = {
        id(node)
        for owner in ast.walk(tree)
        if isinstance(owner, ast.ClassDef)
        for node in owner.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and not any(ast.unparse(d) == "staticmethod" for d in node.decorator_list)
    }
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
            if names and (names[0] == "self" or id(function) in methods):
                names = names[1:]
            end = function.end_lineno or function.lineno
            found.append((function.lineno, end, tuple(names), _assigned(function)))
    return tuple(found)


def _function_at(location: Location) -> Function | None:
    """The innermost function of the file around ``location``'s line."""
    around = [f for f in _parameters(location.filename) if f[0] <= location.lineno <= f[1]]
    return max(around, key=lambda f: f[0], default=None)


def input_dim_names(location: Location | None) -> dict[int, dict[str, int]]:
    """``{argument position: {name: dim}}`` for the arguments of the forward around
    ``location`` whose shape it unpacked before assigning them anew (``b, c, t, h, w
    = x.shape`` on the first line): those names stay the names of the axes the
    caller passed in, also after ``x`` holds another tensor."""
    if location is None:
        return {}
    function = _function_at(location)
    if function is None:
        return {}
    found: dict[int, dict[str, int]] = {}
    for first, last, line, tensor, names, reassigned in _unpackings(location.filename):
        if (first, last) != function[:2] or tensor not in function[2] or line >= location.lineno:
            continue
        if any(other < line for other in reassigned):
            continue  # unpacked after the argument was replaced: not the caller's tensor
        found.setdefault(function[2].index(tensor), {name: dim for dim, name in enumerate(names) if name})
    return found


def argument_position(location: Location | None, name: str) -> int | None:
    """The position (after ``self``) of the argument ``name`` of the function around
    ``location``, when nothing assigns ``name`` anew before that line: then ``name.size(0)``
    there reads the tensor the caller passed."""
    function = _function_at(location) if location is not None else None
    if function is None or location is None or name not in function[2]:
        return None
    if any(line < location.lineno for line in function[3].get(name, ())):
        return None
    return function[2].index(name)
