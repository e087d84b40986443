"""The source text of an op's tensor operands, for the views that label an
op's inputs: ``h`` and ``self.W`` for ``torch.mm(h, self.W)``, where the trace
knows them only by position (``0``, ``1``).

The op's line is parsed, and the expressions on it that record an op of that
name are found: a call of it (``torch.mm(...)``, ``x.add(...)``), an operator
PyTorch turns into it (``a + b`` records ``add``, ``a @ b`` ``matmul``,
``a > b`` ``gt``), an augmented assignment (``c += a`` records ``add_``) or an
index (``x[i]`` records ``__getitem__``). Only an op with exactly one such
expression on its line is named: with two (``torch.mm(a, b) + torch.mm(c, d)``)
the trace does not say which ran, and a wrong name is worse than a position.
"""

from __future__ import annotations

import ast
import functools

from shapetrace.core.records import Call
from shapetrace.errors import SourceNotFoundError
from shapetrace.render.source.reader import _read_lines as read_lines

# The op PyTorch records for each operator on tensors (Tensor.__add__ is
# recorded as ``add``, ``__iadd__`` as ``add_``).
_BINARY = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.MatMult: "matmul",
    ast.Pow: "pow",
    ast.Mod: "remainder",
    ast.FloorDiv: "floor_divide",
    ast.BitAnd: "__and__",
    ast.BitOr: "__or__",
    ast.BitXor: "__xor__",
}
_COMPARE = {ast.Gt: "gt", ast.Lt: "lt", ast.GtE: "ge", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}
# The names PyTorch's function namespaces go by: ``torch.add(a, b)`` is no method call.
_MODULE_NAMES = frozenset({"torch", "F", "functional", "nn", "fft", "linalg", "special"})
# A label is read beside a shape: a longer operand is shortened to its head
# (``position_embeds.to(…)``), or stays a position.
MAX_NAME = 24


def operand_name(call: Call, path: str) -> str | None:
    """The source text of op ``call``'s input at ``path``: ``self.W`` for path
    ``1`` of ``torch.mm(h, self.W)``, ``b`` for ``0.1`` of ``torch.cat([a, b])``.

    None when the line cannot be read, has changed since the trace, holds no
    single expression for this op, or the operand is not written out (the
    elements of a list passed by name, ``torch.cat(outputs)``, stay numbered
    and fold). An operand longer than ``MAX_NAME`` characters is shortened to
    its head, its arguments or index left out (``x.view(…)``, ``self.a[…]``),
    or, where that is still too long, stays a position.
    """
    location = call.location
    if call.kind != "op" or location is None or _inside_library_call(call):
        return None
    method = call.type.startswith("Tensor.")
    operands = _operands_at(location.filename, location.lineno, location.code, call.name, method)
    if operands is None:
        return None
    head, _, rest = path.partition(".")
    if not head.isdigit() or int(head) >= len(operands):
        return None
    node = operands[int(head)]
    for part in rest.split(".") if rest else ():
        if not isinstance(node, (ast.List, ast.Tuple)) or not part.isdigit() or int(part) >= len(node.elts):
            return None
        node = node.elts[int(part)]
    return _short_text(node)


def _short_text(node: ast.expr) -> str | None:
    """``node``'s source, or its head with the arguments or index left out
    (``torch.full_like(…)``), within ``MAX_NAME`` characters; else None."""
    text = ast.unparse(node)
    if len(text) <= MAX_NAME:
        return text
    head: str | None = None
    if isinstance(node, ast.Call):
        head = _short_text(node.func)
        head = head and f"{head}(…)"
    elif isinstance(node, ast.Subscript):
        head = _short_text(node.value)
        head = head and f"{head}[…]"
    elif isinstance(node, ast.Attribute):
        head = _short_text(node.value)
        head = head and f"{head}.{node.attr}"
    return head if head is not None and len(head) <= MAX_NAME else None


def _inside_library_call(call: Call) -> bool:
    """Whether op ``call`` ran inside a module whose code is PyTorch's (a
    ``TransformerEncoderLayer``'s residual add): such an op is placed at the
    user's line that called the module, where no expression is its own."""
    parent = call.parent
    return parent is not None and parent.kind == "module" and parent.location == call.location


@functools.lru_cache(maxsize=1024)
def _operands_at(filename: str, lineno: int, code: str, name: str, method: bool) -> tuple[ast.expr, ...] | None:
    """The operands of the one expression on line ``lineno`` that records op
    ``name``; ``method``: the op is a Tensor method (its receiver is operand 0)."""
    nodes = _expressions_by_line(filename)
    if nodes is None:
        return None
    lines, by_line = nodes
    if lineno > len(lines) or lines[lineno - 1].strip() != code:
        return None  # the file changed since the trace
    found = [operands for node in by_line.get(lineno, ()) if (operands := _operands_of(node, name, method)) is not None]
    if len(found) != 1:
        return None
    return tuple(found[0])


def _operands_of(node: ast.AST, name: str, method: bool) -> list[ast.expr] | None:
    """The operands of ``node`` when it records op ``name``, else None."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right] if _BINARY.get(type(node.op)) == name else None
    if isinstance(node, ast.AugAssign):
        op = _BINARY.get(type(node.op))
        return [node.target, node.value] if op is not None and f"{op}_" == name else None  # type: ignore[list-item]
    if isinstance(node, ast.Compare):
        if len(node.ops) == 1 and _COMPARE.get(type(node.ops[0])) == name:
            return [node.left, node.comparators[0]]
        return None
    if isinstance(node, ast.Subscript):
        return [node.value, node.slice] if name == "__getitem__" else None
    if isinstance(node, ast.Call) and not any(isinstance(arg, ast.Starred) for arg in node.args):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == name:
            # ``x.add(y)`` passes x first; ``torch.add(x, y)`` and ``F.linear(x, w)`` do not.
            on_module = isinstance(func.value, ast.Name) and func.value.id in _MODULE_NAMES
            if method:
                return None if on_module else [func.value, *node.args]
            return list(node.args)
        if isinstance(func, ast.Name) and func.id == name and not method:
            return list(node.args)
    return None


@functools.lru_cache(maxsize=64)
def _expressions_by_line(filename: str) -> tuple[list[str], dict[int, list[ast.AST]]] | None:
    """The file's lines, and the expressions that may record an op, by the
    line each starts on (the line Python reports while it runs them)."""
    try:
        lines = read_lines(filename)
        tree = ast.parse("\n".join(lines))
    except (SourceNotFoundError, SyntaxError, ValueError):
        return None
    by_line: dict[int, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.AugAssign, ast.Compare, ast.Subscript, ast.Call)):
            if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
                continue  # ``x[i] = v`` records ``__setitem__``
            by_line.setdefault(node.lineno, []).append(node)
    return lines, by_line
