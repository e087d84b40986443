"""The source of a ``forward``, read from its file and parsed into statements.

A trace loaded from JSON has no live objects, so the code comes from the file
named in ``Call.defined_at`` (``inspect.getsource`` would need the class).
Each line of the function maps to the statement it belongs to; the shapes of
a statement are written on its last line, so a comment never lands inside a
multi-line call or after a backslash.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from collections.abc import Iterable

from shapetrace.core.records import Location
from shapetrace.core.source_file import read_lines
from shapetrace.core.torch_facts import TENSOR_PROPERTIES
from shapetrace.errors import SourceNotFoundError

# Expressions that may each record one op or module call when they run.
_STEP_NODES = (ast.Call, ast.Subscript, ast.BinOp, ast.Compare)
# Inside these a statement runs its calls any number of times.
_LOOPING_NODES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
UNBOUNDED = 1 << 30


@dataclasses.dataclass(frozen=True)
class Statement:
    """One statement (or the header of a compound one) of a forward.

    ``steps`` bounds how many calls one run of it can record; ``called``
    counts the names it calls (``view`` twice in ``x.view(a).view(b)``).
    """

    first: int
    last: int
    target: ast.expr | None = None  # what an assignment binds
    reads: frozenset[str] = frozenset()  # names the right-hand side reads
    steps: int = 1
    called: Counter[str] = dataclasses.field(default_factory=Counter)
    returns_tuple: bool = False  # ``return a, b``: the forward's outputs are its result


@dataclasses.dataclass(frozen=True)
class ForwardSource:
    """Lines ``first``..``last`` (1-based) of ``filename`` and their statements."""

    filename: str
    lines: list[str]
    first: int
    last: int
    statements: dict[int, Statement]

    def line(self, lineno: int) -> str:
        return self.lines[lineno - 1]


def read_forward(defined_at: Location) -> ForwardSource:
    """Find the function defined at ``defined_at`` in its file and parse it."""
    lines = read_lines(defined_at.filename)
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as bad:
        raise SourceNotFoundError(f"{defined_at.filename} no longer parses ({bad.msg}, line {bad.lineno})") from None
    function = _function_at(tree, defined_at.lineno)
    if function is None:
        raise SourceNotFoundError(f"{defined_at} holds no function any more; the file changed since the trace")
    first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
    statements: dict[int, Statement] = {}
    _map_statements(function.body, statements)
    return ForwardSource(defined_at.filename, lines, first, function.end_lineno or function.lineno, statements)


def read_statements(filename: str, linenos: Iterable[int]) -> ForwardSource:
    """The statements of ``filename`` at ``linenos`` (lines of a training loop, outside
    any forward: ``loss = F.mse_loss(pred, y)``, ``out = D(real).view(-1)``), parsed
    once as ``read_forward`` parses a function; the result spans the first to the
    last of them and maps the statements found. Raises ``SourceNotFoundError`` when
    the file cannot be read or parsed, or holds none of those statements any more."""
    lines = read_lines(filename)
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as bad:
        raise SourceNotFoundError(f"{filename} no longer parses ({bad.msg}, line {bad.lineno})") from None
    every: dict[int, Statement] = {}
    _map_statements(tree.body, every)
    found = [every[lineno] for lineno in linenos if lineno in every]
    if not found:
        raise SourceNotFoundError(f"{filename} holds none of those statements any more; it changed since the trace")
    own = {lineno: statement for statement in found for lineno in range(statement.first, statement.last + 1)}
    return ForwardSource(filename, lines, min(own), max(own), own)


def _function_at(tree: ast.AST, lineno: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            starts = {node.lineno, *(d.lineno for d in node.decorator_list)}
            if lineno in starts:
                return node
    return None


def _map_statements(body: list[ast.stmt], out: dict[int, Statement]) -> None:
    """Map every line of ``body`` to its innermost statement (headers included)."""
    for node in body:
        inner = [getattr(node, field, None) or [] for field in ("body", "orelse", "finalbody")]
        inner += [handler.body for handler in getattr(node, "handlers", [])]
        inner += [case.body for case in getattr(node, "cases", [])]
        blocks = [block for block in inner if block and isinstance(block[0], ast.stmt)]
        if blocks:
            _add(out, _header(node))
            for block in blocks:
                _map_statements(block, out)
        else:
            _add(out, _simple(node))


def _add(out: dict[int, Statement], statement: Statement) -> None:
    shared = out.get(statement.first)
    if shared is not None and shared.last == statement.first:  # `z = x * 2; w = z.view(-1)`
        statement = _merged(shared, statement)
    for lineno in range(statement.first, statement.last + 1):
        out[lineno] = statement


def _merged(first: Statement, second: Statement) -> Statement:
    """Statements sharing a line share its comment: the last result, unnamed."""
    return Statement(
        min(first.first, second.first),
        max(first.last, second.last),
        steps=min(first.steps + second.steps, UNBOUNDED),
        called=first.called + second.called,
    )


def _simple(node: ast.stmt) -> Statement:
    target: ast.expr | None = None
    value: ast.AST = node
    if isinstance(node, ast.Assign):
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    reads = frozenset(n.id for n in ast.walk(value) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    steps, called = _count_steps([node])
    returns_tuple = isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
    return Statement(node.lineno, node.end_lineno or node.lineno, target, reads, steps, called, returns_tuple)


def _header(node: ast.stmt) -> Statement:
    """A compound statement's header: ``for x in torch.split(...)``, ``if x.dim() == 3``;
    it ends where its expressions end (the ``:`` line), not at a comment below."""
    parts = [getattr(node, field) for field in ("iter", "test", "subject") if hasattr(node, field)]
    parts += [item.context_expr for item in getattr(node, "items", [])]
    last = max([node.lineno, *(part.end_lineno or part.lineno for part in parts)])
    steps, called = _count_steps(parts)
    return Statement(node.lineno, last, None, frozenset(), steps, called)


def _count_steps(roots: list[ast.AST]) -> tuple[int, Counter[str]]:
    steps, called = 0, Counter[str]()
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, _LOOPING_NODES):
                return UNBOUNDED, Counter()
            if _is_step(node):
                steps += 1
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name:
                    called[name] += 1
            elif isinstance(node, ast.Subscript):
                called["__setitem__" if isinstance(node.ctx, ast.Store) else "__getitem__"] += 1
    return max(steps, 1), called


def _is_step(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        return not isinstance(node.operand, ast.Constant)  # -1 is a number, not an op
    if isinstance(node, ast.Attribute):
        return node.attr in TENSOR_PROPERTIES
    return isinstance(node, (*_STEP_NODES, ast.AugAssign))
