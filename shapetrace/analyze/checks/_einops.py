"""A scrambled view that einops' ``rearrange`` ran, told in the pattern the user wrote.

``rearrange(y, "(h b) t d -> b t (h d)", h=8)`` splits dim 0 with a reshape to
``(h, b, t, d)``: the group's names are read in order, outermost first. When that
dim was merged as ``(b h)`` (an earlier ``"b t (h d) -> (b h) t d"``), the reshape
reads its axes in the wrong order, and the fix is in the pattern, not a permute:
the group's names in the order of the axes in memory (einops' own rule:
https://einops.rocks, "the order of axes in a composition matters").
"""

from __future__ import annotations

import ast
import re

from shapetrace.analyze.checks._source import parsed_file
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call

_TOKEN = re.compile(r"\(([^()]*)\)|(\S+)")


def pattern_fix(call: Call, flow: TraceLineage) -> tuple[str, str] | None:
    """``(message, help)`` for a view that splits a merged dim in the wrong order, run by
    ``rearrange`` at the user's line: the group of the pattern that reads it, and the
    call with the group's names in memory order. None where the view is not
    rearrange's, the pattern is not a literal, or sizes collide (the names cannot be
    told apart by size)."""
    if call.site is None or call.site >= 0 or call.location is None or call.output is None:
        return None
    node = _rearrange_at(call.location.filename, call.location.lineno)
    if node is None:
        return None
    pattern = node.args[1].value  # type: ignore[attr-defined]
    left, arrow, right = pattern.partition("->")
    tokens = [names for names in (_names(t) for t in _TOKEN.finditer(left)) if names]
    source = flow.input_lineage(call, 0)
    if "..." in left or len(tokens) != len(source) or sum(map(len, tokens)) != len(call.output.shape):
        return None
    start = 0
    for k, (names, dim) in enumerate(zip(tokens, source)):
        read = list(call.output.shape[start : start + len(names)])
        start += len(names)
        held = [atom.size for atom in dim if atom.size != 1]
        if len(names) < 2 or read == held or sorted(read) != sorted(held) or len(set(held)) != len(held):
            continue
        ordered = [names[read.index(size)] for size in held]
        group, fixed_group = f"({' '.join(names)})", f"({' '.join(ordered)})"
        # the left side written anew from its tokens (the user's spacing inside groups aside)
        written = [f"({' '.join(t)})" if len(t) > 1 or _grouped(left, t) else t[0] for t in tokens]
        written[k] = fixed_group
        lead, trail = left[: len(left) - len(left.lstrip())], left[len(left.rstrip()) :]
        new = f"{lead}{' '.join(written)}{trail}{arrow}{right}"
        if new == pattern:
            return None
        fixed_call = ast.unparse(_with_pattern(node, new))
        message = (
            f"{ast.unparse(node)} at line {call.location.lineno} reads dim {k} of "
            f"{tuple(call.inputs[0].shape)} as {group}, sizes {' x '.join(map(str, read))}, but that dim holds "
            f"{' x '.join(map(str, held))} in memory, merged as {fixed_group}: a pattern's group reads its names "
            f"outermost first, so this mixes the axes up"
        )
        return message, f"use {fixed_call}"
    return None


def ran_by_einops(call: Call) -> bool:
    """Whether code other than the user's line ran the op (``Call.site`` negative) for an
    einops call written on that line: its receiver and sizes are einops', not the user's."""
    code = call.location.code if call.location is not None else ""
    return call.site is not None and call.site < 0 and any(f"{name}(" in code for name in _EINOPS_CALLS)


_EINOPS_CALLS = ("rearrange", "reduce", "repeat", "einsum", "pack", "unpack")


def _names(match: re.Match) -> list[str]:
    group, name = match.groups()
    return group.split() if group is not None else [name]


def _rearrange_at(filename: str, lineno: int) -> ast.Call | None:
    """The ``rearrange(tensor, "pattern", ...)`` call on that line, its pattern a literal;
    None where the line calls rearrange more than once (the op does not say which ran it)."""
    tree = parsed_file(filename)
    found = []
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Call) or node.lineno != lineno:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name == "rearrange":
            found.append(node)
    if len(found) != 1 or len(found[0].args) < 2:
        return None
    pattern = found[0].args[1]
    return found[0] if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str) else None


def _grouped(left: str, names: list[str]) -> bool:
    """Whether a one-name token was written in parentheses (``(t)``): kept so."""
    return re.search(rf"\(\s*{re.escape(names[0])}\s*\)", left) is not None


def _with_pattern(node: ast.Call, pattern: str) -> ast.Call:
    return ast.Call(node.func, [node.args[0], ast.Constant(pattern), *node.args[2:]], node.keywords)
