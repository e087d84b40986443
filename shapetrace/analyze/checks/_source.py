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
from collections.abc import Collection, Iterable, Iterator

from shapetrace.core.records import Location
from shapetrace.core.source_file import read_lines
from shapetrace.errors import SourceNotFoundError

_BATCH_NAME = re.compile(r"batch|(^|_)bs($|_)|^n_?samples$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SourceCall:
    """One call expression of a line: ``receiver.name(*args)``."""

    receiver: str | None
    args: tuple[str, ...]


@functools.lru_cache(maxsize=64)
def parsed_file(filename: str) -> ast.Module | None:
    """The syntax tree of a source file; None when it cannot be read or parsed (a file
    gone or edited since the trace, a notebook cell's pseudo-file, a compiled module)."""
    try:
        return ast.parse("\n".join(read_lines(filename)))
    except (SourceNotFoundError, SyntaxError, ValueError):
        return None


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


def evaluated(node: ast.AST, depth: int = 0) -> Iterator[tuple[ast.AST, int]]:
    """The nodes under ``node``, with their depth, in the order Python
    evaluates them: a call after its receiver and arguments. Fields come in
    that order but for an assignment's value (before its targets) and a
    dict's keys and values (in pairs)."""
    children: Iterable[ast.AST | None] = ast.iter_child_nodes(node)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        children = [node.value, *(node.targets if isinstance(node, ast.Assign) else [node.target])]
    elif isinstance(node, ast.Dict):
        children = [part for pair in zip(node.keys, node.values) for part in pair]
    for child in children:
        if child is not None:
            yield from evaluated(child, depth + 1)
    yield node, depth


@functools.lru_cache(maxsize=512)
def _calls(code: str) -> tuple[tuple[str | None, int, SourceCall], ...]:
    """The line's calls in the order they run: name, depth in the tree, call."""
    tree = _parse(code)
    if tree is None:
        return ()
    calls = []
    for node, depth in evaluated(tree):
        if isinstance(node, ast.Call):
            func = node.func
            # (a receiver written in parentheses keeps them: ``(attn @ v).reshape``)
            receiver = _operand_text(func.value) if isinstance(func, ast.Attribute) else None
            calls.append((_call_name(node), depth, SourceCall(receiver, _args(node))))
    return tuple(calls)


def find_call(
    location: Location | None, names: Collection[str] | None, nargs: int | None = None, occurrence: int | None = None
) -> SourceCall | None:
    """The call of one of ``names`` (any name: None) on the line; None when
    the line does not parse or has no such call.

    ``occurrence`` (an op's ``index``: how many ops of its name ran at its
    line before it) picks by position: with ``k`` such calls on the line, the
    op is the ``occurrence % k``-th of them to run; in ``x.view(-1).view(2, 8)``
    0 is the inner view. (That holds while each of them runs each time the
    line does: not for one in an ``if``-expression's branch.) Without it:
    the outermost call with ``nargs`` arguments, else the outermost."""
    if location is None or not location.code:
        return None
    found = [(depth, call) for name, depth, call in _calls(location.code) if names is None or name in names]
    if not found:
        return None
    if occurrence is not None:
        return found[occurrence % len(found)][1]
    found.sort(key=lambda pair: pair[0])  # stable: outermost first, then left to right
    fitting = [call for _, call in found if nargs is None or len(call.args) == nargs]
    return fitting[0] if fitting else found[0][1]


def keyword_text(location: Location | None, keyword: str) -> str | None:
    """``mask`` for a line that calls ``self.attn(x, x, x, attn_mask=mask)`` and asks
    for ``attn_mask``: the source of the first keyword argument of that name."""
    tree = _parse(location.code) if location is not None and location.code else None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call):
            for item in node.keywords:
                if item.arg == keyword:
                    return ast.unparse(item.value)
    return None


def subscripted(location: Location | None) -> str | None:
    """``out`` for a line that indexes ``out[:, -1, :]``."""
    tree = _parse(location.code) if location is not None and location.code else None
    if tree is None:
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.Subscript)), None)
    return ast.unparse(node.value) if node is not None else None


def written_subscript(location: Location | None) -> str | None:
    """``series[i:i + WIN]``: the one subscript of the line, as written; None when it has none or several."""
    tree = _parse(location.code) if location is not None and location.code else None
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Subscript)] if tree is not None else []
    return ast.unparse(found[0]) if len(found) == 1 else None


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


_DATA_SIZE = re.compile(r"\.size\(|\.shape\b|\blen\(")


@functools.lru_cache(maxsize=64)
def _assignments_from_data(filename: str) -> tuple[tuple[int, int, str], ...]:
    """``(first line, last line, attribute)`` of each class of the file, for each
    attribute (``self.batch_size``) an assignment in it sets from a tensor's size
    (``x.size(0)``, ``x.shape[0]``, ``len(x)``)."""
    tree = parsed_file(filename)
    if tree is None:
        return ()
    found = []
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for node in ast.walk(cls):
            if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or node.value is None:
                continue
            if not _DATA_SIZE.search(ast.unparse(node.value)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute):
                        found.append((cls.lineno, cls.end_lineno or cls.lineno, ast.unparse(part)))
    return tuple(found)


def assigned_from_data(location: Location, expression: str) -> bool:
    """True when ``expression`` (``self.batch_size``) is an attribute that the class
    around ``location`` assigns from a tensor's size somewhere (a forward that
    resets it for a short batch): then it follows the data, it is not baked in."""
    return any(
        first <= location.lineno <= last and name == expression
        for first, last, name in _assignments_from_data(location.filename)
    )


def binary_operands(location: Location | None, operator: type[ast.operator], method: str) -> tuple[str, str] | None:
    """The operands of the one binary op of the line written ``a OP b``,
    ``a.method(b)`` or ``torch.method(a, b)``, as written (an operand that is an
    expression comes in parentheses); None when the line has none or several."""
    tree = _parse(location.code) if location is not None and location.code else None
    if tree is None:
        return None
    pairs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, operator):
            pairs.append((node.left, node.right))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method:
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in ("torch", "th"):
                if len(node.args) == 2:
                    pairs.append((node.args[0], node.args[1]))
            elif len(node.args) == 1:
                pairs.append((receiver, node.args[0]))
    if len(pairs) != 1:
        return None  # several: which one ran is not told by the trace
    return _operand_text(pairs[0][0]), _operand_text(pairs[0][1])


def operator_expression(location: Location | None, operator: type[ast.operator], method: str) -> str | None:
    """``q @ k.transpose(-2, -1)``: the one ``a OP b`` of the line, as written, where
    PyTorch ran it as ``Tensor.method`` (``@`` runs ``matmul``, ``+`` runs ``add``);
    None when the line has none, several, or also calls ``.method(...)``."""
    tree = _parse(location.code) if location is not None and location.code else None
    if tree is None:
        return None
    found = [node for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, operator)]
    called = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
        for node in ast.walk(tree)
    )
    return ast.unparse(found[0]) if len(found) == 1 and not called else None


def assigned_expression(location: Location | None) -> tuple[str, str] | None:
    """``("pad_mask", "torch.arange(T)[:, None] >= lens[None, :]")`` for a line that is one
    assignment to a name, as written; None for any other line."""
    tree = _parse(location.code) if location is not None and location.code else None
    if not isinstance(tree, ast.Module) or len(tree.body) != 1:
        return None
    statement = tree.body[0]
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    return (target.id, ast.unparse(statement.value)) if isinstance(target, ast.Name) else None


def assigned_to(location: Location | None, path: str) -> str | None:
    """The name a line of one assignment binds to the returned value's part ``path``:
    ``c`` for ``"1.1"`` in ``_, (h, c) = self.encoder(x)``; None where that part is not
    unpacked to a name there."""
    tree = _parse(location.code) if location is not None and location.code else None
    if not isinstance(tree, ast.Module) or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        return None
    node: ast.expr = tree.body[0].targets[0]
    for part in path.split("."):
        if not isinstance(node, (ast.Tuple, ast.List)) or not part.isdigit() or int(part) >= len(node.elts):
            return None
        node = node.elts[int(part)]
    return node.id if isinstance(node, ast.Name) else None


def helper_call(helper: Location | None, near: Location | None) -> Location | None:
    """The line of the function around ``near`` (``forward``, at the LSTM's call) that
    calls the function ``helper`` is in (``self.init_hidden(self.batch_size)`` for an op of
    ``init_hidden``'s body), when it calls it once; None otherwise, or where a file does
    not parse. From the source: a call inside the pass records one user frame, not its
    caller's."""
    if helper is None or near is None or not helper.function.isidentifier():
        return None
    tree = parsed_file(near.filename)
    if tree is None:
        return None
    around = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.lineno <= near.lineno <= (node.end_lineno or node.lineno)
    ]
    if not around:
        return None
    function = min(around, key=lambda node: (node.end_lineno or node.lineno) - node.lineno)  # the innermost
    lines = {
        node.lineno for node in ast.walk(function) if isinstance(node, ast.Call) and _call_name(node) == helper.function
    }
    if len(lines) != 1:
        return None
    line = lines.pop()
    source = read_lines(near.filename)  # (read by parsed_file: it is there)
    return Location(near.filename, line, source[line - 1].strip() if line <= len(source) else "", function.name)


def _operand_text(node: ast.expr) -> str:
    text = ast.unparse(node)
    simple = isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant))
    return text if simple else f"({text})"
