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


@functools.lru_cache(maxsize=64)
def _parameters(filename: str) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    """``(first line, last line, parameter names after self)`` of each function of the file."""
    tree = parsed_file(filename)
    if tree is None:
        return ()
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
            if names and names[0] == "self":
                names = names[1:]
            found.append((function.lineno, function.end_lineno or function.lineno, tuple(names)))
    return tuple(found)


def input_dim_names(location: Location | None) -> dict[int, dict[str, int]]:
    """``{argument position: {name: dim}}`` for the arguments of the forward around
    ``location`` whose shape it unpacked before assigning them anew (``b, c, t, h, w
    = x.shape`` on the first line): those names stay the names of the axes the
    caller passed in, also after ``x`` holds another tensor."""
    if location is None:
        return {}
    function = next(
        (f for f in _parameters(location.filename) if f[0] <= location.lineno <= f[1]),
        None,
    )
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
    """The position (after ``self``) of the argument ``name`` of the method around
    ``location``, when nothing assigns ``name`` anew before that line: then ``name.size(0)``
    there reads the tensor the caller passed."""
    tree = parsed_file(location.filename) if location is not None else None
    if tree is None or location is None:
        return None
    found = None
    for owner in ast.walk(tree):
        if not isinstance(owner, ast.ClassDef):
            continue
        for function in owner.body:
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and function.lineno <= location.lineno <= (
                function.end_lineno or function.lineno
            ):
                found = function
    if found is None:
        return None
    names = [a.arg for a in [*found.args.posonlyargs, *found.args.args]][1:]  # a method: after self
    if name not in names:
        return None
    for node in ast.walk(found):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets = [node.target]
        else:
            continue
        if node.lineno < location.lineno and any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return None
    return names.index(name)
