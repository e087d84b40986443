"""The source text of an op's tensor operands, for the views that label an
op's inputs: ``h`` and ``self.W`` for ``torch.mm(h, self.W)``, where the trace
knows them only by position (``0``, ``1``).

The op's line is parsed, and the expressions on it that record an op of that
name are found: a call of it (``torch.mm(...)``, ``x.add(...)``), an operator
PyTorch turns into it (``a + b`` records ``add``, ``a @ b`` ``matmul``,
``a > b`` ``gt``), an augmented assignment (``c += a`` records ``add_``) or an
index (``x[i]`` records ``__getitem__``, ``x[i] = v`` ``__setitem__``). A
tensor passed by keyword is named by its argument (``torch.add(a, other=h)``
names ``other`` ``h``).

With several such expressions on a line (``x @ self.W + h @ self.U``), the
op's site (``Call.site``, the offset of the instruction that called it) tells
which ran: the line's ops of that kind have as many sites as it has such
expressions, in the order Python evaluates them. Where the counts differ (an
expression on plain Python values, ``n + 1``, records nothing), where the
sites are unknown (a trace written before them), or where a part of the line
may not run (``a if c else b``, ``and``/``or``, a comprehension or a lambda),
none is named: a wrong name is worse than a position.

The names live here, below the views, so that the note on a raised error
names the operands as the table does.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Sequence

from shapetrace.analyze.checks._source import evaluated
from shapetrace.core.records import Call, TensorMeta
from shapetrace.core.source_file import read_lines
from shapetrace.core.text import labelled_shapes, tensor_name
from shapetrace.errors import SourceNotFoundError

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
    ``1`` of ``torch.mm(h, self.W)``, ``b`` for ``0.1`` of ``torch.cat([a, b])``,
    ``h`` for ``other`` of ``torch.add(a, other=h)``.

    None when the line cannot be read, has changed since the trace, holds no
    expression for this op that can be told apart (see the module's note), or
    the operand is not written out (the elements of a list passed by name,
    ``torch.cat(outputs)``, stay numbered and fold). An operand longer than
    ``MAX_NAME`` characters is shortened to its head, its arguments or index
    left out (``x.view(…)``, ``self.a[…]``), or, where that is still too long,
    stays a position.

    >>> [operand_name(op, "0") for op in t.ops if op.name == "view"]   # the article's forward
    ['input_seq', 'output.contiguous()', 'pred']
    """
    location = call.location
    if call.kind != "op" or location is None or _inside_library_call(call):
        return None
    method = call.type.startswith("Tensor.")
    found = _operands_at(location.filename, location.lineno, location.code, call.name, method)
    which = _expression_index(call, len(found))
    if which is None:
        return None
    positional, keywords = found[which]
    head, _, rest = path.partition(".")
    if head.isdigit():
        if int(head) >= len(positional):
            return None
        node = positional[int(head)]
    elif head in keywords:
        node = keywords[head]
    else:
        return None
    for part in rest.split(".") if rest else ():
        if not isinstance(node, (ast.List, ast.Tuple)) or not part.isdigit() or int(part) >= len(node.elts):
            return None
        if any(isinstance(element, ast.Starred) for element in node.elts):
            return None  # ``[*features, x]``: the positions of the elements are not the list's
        node = node.elts[int(part)]
    return _short_text(node)


def _expression_index(call: Call, candidates: int) -> int | None:
    """Which of the line's ``candidates`` expressions that may record op
    ``call`` (in the order they run) did; None when that cannot be told.

    The ops of this kind that the line recorded under the same parent call
    are told apart by their sites (the calling instruction's offset, which
    grows in the order the line runs). Only where there are as many sites as
    candidates is the op's rank among them its expression's: an expression on
    plain Python values (``n + 1``, ``out.shape[0]``) records nothing, while
    an op no candidate wrote records one more (a chained ``.matmul(v)`` that
    Python places on its own line, the adds of a ``sum(losses)``, the load of
    ``agg[dst]`` in ``agg[dst] += v``). An op library code ran (``F.normalize``'s
    inner ``div``: a negative site) is none of them. Without sites (a trace
    written before them, an op outside any module call) only a lone candidate
    is taken.
    """
    if candidates == 0 or (call.site is not None and call.site < 0):
        return None
    if call.site is None or call.parent is None:
        return 0 if candidates == 1 else None
    sites = _sites(call.parent).get((call.location, call.type), ())
    if len(sites) != candidates or call.site not in sites:
        return None
    return sites.index(call.site)


# The sites of the last parents asked about: naming every op of a loop's
# call asks about one parent thousands of times.
_SITES_CACHE: list[tuple[Call, dict[tuple[object, str], list[int]]]] = []


def _sites(parent: Call) -> dict[tuple[object, str], list[int]]:
    """The sorted sites of ``parent``'s op children, by (location, op type)."""
    for cached, sites in _SITES_CACHE:
        if cached is parent:
            return sites
    by_kind: dict[tuple[object, str], set[int]] = {}
    for child in parent.children:
        if child.kind == "op" and child.site is not None and child.site >= 0:
            by_kind.setdefault((child.location, child.type), set()).add(child.site)
    sites = {kind: sorted(found) for kind, found in by_kind.items()}
    _SITES_CACHE[:] = [(parent, sites), *_SITES_CACHE[:7]]
    return sites


def operand_labels(call: Call, metas: Sequence[TensorMeta], *, output: bool = False) -> list[str]:
    """One ``name (shape)`` per tensor of ``call``, an op's unnamed inputs named
    by their source text (``x (3, 4)``, ``self.W (4, 8)`` for ``x @ self.W``),
    others as ``core.text.labelled_shapes`` names them (``h_0``, ``input``, ``0``)."""
    if output or call.kind != "op":
        return labelled_shapes(call, metas, output=output)
    names = []
    for meta in metas:
        known = tensor_name(call, meta, output=False)
        names.append(operand_name(call, meta.path) or known if known == meta.path else known)
    return labelled_shapes(call, metas, output=False, names=names)


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


# An expression's operands: the positional ones (a method's receiver first),
# and the tensors passed by keyword.
_Operands = tuple[tuple[ast.expr, ...], dict[str, ast.expr]]
# Parts of a line that may run some of its expressions and not others.
_CONDITIONAL = (ast.IfExp, ast.BoolOp, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
# Built-ins that run tensor operators of their own on the line (``sum(losses)``
# adds them): an op of the line may be theirs, which no expression writes.
_OPERATOR_RUNNERS = frozenset({"sum", "max", "min", "map", "reduce", "sorted", "filter"})


@functools.lru_cache(maxsize=1024)
def _operands_at(filename: str, lineno: int, code: str, name: str, method: bool) -> tuple[_Operands, ...]:
    """The operands of each expression on line ``lineno`` that records op
    ``name``, in the order they run; ``method``: the op is a Tensor method (its
    receiver is operand 0). Empty when they cannot be told apart."""
    nodes = _expressions_by_line(filename)
    if nodes is None:
        return ()
    lines, by_line = nodes
    if lineno > len(lines) or lines[lineno - 1].strip() != code:
        return ()  # the file changed since the trace
    expressions = by_line.get(lineno, ())
    found = tuple(operands for node in expressions if (operands := _operands_of(node, name, method)) is not None)
    if len(found) > 1 and any(isinstance(node, _CONDITIONAL) for node in expressions):
        return ()
    if any(_runs_operators(node) for node in expressions):
        return ()
    return found


def _runs_operators(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name in _OPERATOR_RUNNERS


def _operands_of(node: ast.AST, name: str, method: bool) -> _Operands | None:
    """The operands of ``node`` when it records op ``name``, else None."""
    if not method and not isinstance(node, ast.Call):
        return None  # an operator, an index or an assignment records a Tensor method
    if isinstance(node, ast.BinOp):
        return ((node.left, node.right), {}) if _BINARY.get(type(node.op)) == name else None
    if isinstance(node, ast.AugAssign):
        op = _BINARY.get(type(node.op))
        return ((node.target, node.value), {}) if op is not None and f"{op}_" == name else None  # type: ignore[return-value]
    if isinstance(node, ast.Assign):  # ``x[i] = v`` passes x, i and v
        target = node.targets[0]
        if name != "__setitem__" or len(node.targets) != 1 or not isinstance(target, ast.Subscript):
            return None
        return ((target.value, target.slice, node.value), {})
    if isinstance(node, ast.Compare):
        if len(node.ops) == 1 and _COMPARE.get(type(node.ops[0])) == name:
            return ((node.left, node.comparators[0]), {})
        return None
    if isinstance(node, ast.Subscript):
        return ((node.value, node.slice), {}) if name == "__getitem__" else None
    if isinstance(node, ast.Call) and not any(isinstance(arg, ast.Starred) for arg in node.args):
        keywords = {keyword.arg: keyword.value for keyword in node.keywords if keyword.arg is not None}
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == name:
            # ``x.add(y)`` passes x first; ``torch.add(x, y)``, ``F.linear(x, w)`` and
            # ``torch.Tensor.add(x, y)`` (unbound) do not.
            on_module = isinstance(func.value, ast.Name) and func.value.id in _MODULE_NAMES
            if method and ast.unparse(func.value) in ("Tensor", "torch.Tensor"):
                return tuple(node.args), keywords
            if method:
                return None if on_module else ((func.value, *node.args), keywords)
            return tuple(node.args), keywords
        if isinstance(func, ast.Name) and func.id == name and not method:
            return tuple(node.args), keywords
    return None


@functools.lru_cache(maxsize=64)
def _expressions_by_line(filename: str) -> tuple[list[str], dict[int, list[ast.AST]]] | None:
    """The file's lines, and its nodes by the line Python reports while it runs
    them, in the order Python evaluates them: the line a node starts on, but
    for a method call the line of its name (Python 3.11 places ``.matmul(v)``
    of a chain spread over lines there)."""
    try:
        lines = read_lines(filename)
        tree = ast.parse("\n".join(lines))
    except (SourceNotFoundError, SyntaxError, ValueError):
        return None
    # ``agg[dst] += v`` loads ``agg[dst]`` (``__getitem__``) before it stores it
    loaded_targets = {
        id(node.target)
        for node in ast.walk(tree)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript)
    }
    by_line: dict[int, list[ast.AST]] = {}
    for node, _ in evaluated(tree):
        if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load) and id(node) not in loaded_targets:
            continue  # ``x[i] = v`` records ``__setitem__``, read from the assignment
        if isinstance(node, (ast.expr, ast.Assign, ast.AugAssign)):
            line = node.lineno
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.end_lineno:
                line = node.func.end_lineno
            by_line.setdefault(line, []).append(node)
    return lines, by_line
