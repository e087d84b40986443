"""ST003 on a tensor built once for one batch size and joined with the batch.

``self.register_buffer("mask", torch.ones(batch_size, T))`` in ``__init__``, a global
``START = torch.zeros(BATCH, 1, D)``, ``self.cls.expand(64, -1, -1)`` in forward: a
tensor whose dim 0 was sized for the training batch, then added to, multiplied with
or concatenated to the data, where it lines up with the batch axis. Every full batch
fits; a short last batch raises at the add or the cat (the line that made the size is
elsewhere), and a batch of one broadcasts to the baked-in size without an error.

By lineage, the tensor's dim is born outside the data (a buffer, a parameter, a
global: an ``unknown`` origin; or a creation/expand op whose size argument is written
fixed), and it lines up with the pass's batch axis. Evidence that its size is a batch
size: it equals the batch size of a DataLoader the run iterated, or of another pass
of the model, and it is not 1. The line named is the one that made the size: the
expand or creation op, or, for a tensor made before the trace, the assignment (a
``register_buffer``, ``self.x = ...``, a global) of a name used on the op's line.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line
from shapetrace.analyze.checks._source import find_call, is_fixed, names_batch, parsed_file
from shapetrace.analyze.lineage.atoms import Atom
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.finding import Finding, Severity
from shapetrace.core.records import Call, Location
from shapetrace.core.text import format_shape, is_library_file
from shapetrace.core.trace import Trace

_JOINS = frozenset(
    {
        *("add", "sub", "mul", "div", "add_", "mul_", "masked_fill", "where"),
        *("__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__imul__"),
        *("__truediv__", "__rtruediv__", "cat", "concat", "concatenate"),
    }
)
_CUTS = frozenset({"__getitem__", "narrow", "slice", "index_select"})
_MAKERS = frozenset({"zeros", "ones", "empty", "full", "randn", "rand", "randint", "tensor", "arange"})


@dataclasses.dataclass(frozen=True)
class _Baked:
    op: Call  # the add or cat that joins it with the data
    size: int  # the size baked in
    batch: int  # this pass's batch size
    maker: Call | None  # the op that made the size, when recorded
    origin: Location | None  # the assignment that made it, for a tensor made before the trace
    others: set[int]  # the batch sizes of the model's other passes
    edit: tuple[str, str]  # the creation as written, and with the batch size read from the data
    dim: int = 0  # the dim of the made tensor that holds the size


def _batched(root: Call) -> bool:
    return root.kind == "module" and bool(root.inputs) and bool(root.inputs[0].shape)


def _loader_batches(trace: Trace) -> set[int]:
    """The batch sizes of the DataLoaders the run iterated (``run_info["loaders"]``)."""
    loaders = trace.run_info.get("loaders", ())
    return {info["batch_size"] for info in loaders if isinstance(info, dict) and info.get("batch_size")}


def batch_sized_tensors(trace: Trace, flow: TraceLineage, passes: Iterable[tuple[Call, Atom]]) -> Iterator[Finding]:
    """ST003 for each line that made a tensor of a batch size joined with the data
    (``passes``: each pass's root and batch atom; a pass of one sample has none)."""
    loader_batches = _loader_batches(trace)
    firsts = {root.inputs[0].shape[0] for root in trace.calls if root.parent is None and _batched(root)}
    chosen: dict[object, _Baked] = {}
    for root, batch in passes:
        others = firsts - {batch.size}
        # a size that matched this pass's batch counts when other passes had other sizes
        sizes = others | loader_batches | ({batch.size} if others else set())
        for baked in _joins(flow, root, batch, sizes, others):
            key = baked.maker.location if baked.maker is not None else baked.origin or baked.op.location
            if key not in chosen or (baked.op.error is not None and chosen[key].op.error is None):
                chosen[key] = baked  # the failed join explains the failure
    for baked in chosen.values():
        yield _finding(baked, loader_batches)


def _joins(flow: TraceLineage, root: Call, batch: Atom, sizes: set[int], others: set[int]) -> Iterator[_Baked]:
    for op in root.walk():
        if op.kind != "op" or op.name not in _JOINS or len(op.inputs) < 2:
            continue
        lineages = [flow.input_lineage(op, k) for k in range(len(op.inputs))]
        for k, data in enumerate(lineages):
            dims = [d for d, dim in enumerate(data) if len(dim) == 1 and dim[0].origin == batch.origin]
            # another dim of the batch's size (heads == batch): which one a tensor that size lines up with is not told
            ambiguous = op.inputs[k].shape.count(batch.size) > 1
            if len(dims) != 1:
                continue
            for j, other in enumerate(lineages):
                aligned = dims[0] - (len(data) - len(other))
                if j == k or aligned < 0 or len(other[aligned]) != 1:
                    continue
                atom = other[aligned][0]
                if atom.size <= 1 or atom.size not in sizes or atom.origin.startswith("input#"):
                    continue
                if ambiguous and atom.size == batch.size:
                    continue
                source = flow.source(op, j)
                if source is not None and not source.as_input and source.call.name in _CUTS:
                    continue  # cut to the data in forward (self.pe[:x.size(0)]): its size follows the data
                found = _made(root, op, atom, batch.size, others, k)
                found = dataclasses.replace(found, dim=aligned) if found is not None else None
                if found is not None:
                    yield found
                    return


def _made(root: Call, op: Call, atom: Atom, batch: int, others: set[int], data: int) -> _Baked | None:
    """Where ``atom`` was sized (``data``: the index of the op's input that holds the
    batch); None when it was read from the data where it was made."""
    kind, _, rest = atom.origin.partition("#")
    if kind == "unknown":
        if op.location is None or is_library_file(op.location.filename):
            # (a guess from source text: in a library's file, an assignment of another
            # class's attribute of the same name, StaticLayer's keys for DynamicLayer's)
            return None
        made = _assignment(op, atom.size)
        if made is None:  # no creation of a fixed size in the source: a parameter sized by its config
            return None
        return _Baked(op, atom.size, batch, None, made[0], others, (made[1], made[2]))
    ident = rest.partition(":")[0]
    maker = next((call for call in root.walk() if str(call.id) == ident), None)
    if maker is None or maker.location is None or maker.name not in (*_MAKERS, "expand", "repeat"):
        return None
    sizes = maker.outputs[0].shape if maker.outputs else ()
    position = next((i for i, size in enumerate(sizes) if size == atom.size), None)
    source = find_call(maker.location, {maker.name}, len(sizes), maker.index)
    if position is None or source is None or len(source.args) != len(sizes) or not is_fixed(source.args[position]):
        return None
    args = list(source.args)
    args[position] = f"{_operand(op, data)}.size(0)"
    called = f"{source.receiver}.{maker.name}" if source.receiver else maker.name
    edit = (f"{called}({', '.join(source.args)})", f"{called}({', '.join(args)})")
    return _Baked(op, atom.size, batch, maker, None, others, edit)


def _operand(op: Call, index: int) -> str:
    """How input ``index`` of the op is written on its line (``x`` in ``torch.cat([cls, x], 1)``
    or ``h + self.memory``); ``x`` when the line does not tell."""
    try:
        tree = ast.parse(op.location.code.strip().rstrip(":")) if op.location is not None else None
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
            item = node.args[0].elts[index] if len(node.args[0].elts) == len(op.inputs) else None
            if isinstance(item, ast.Name):
                return item.id
        if isinstance(node, ast.BinOp) and len(op.inputs) == 2:
            side = (node.left, node.right)[index]
            if isinstance(side, ast.Name):
                return side.id
    return "x"


def _names(code: str) -> set[str]:
    try:
        tree = ast.parse(code.strip().rstrip(":"), mode="exec")
    except SyntaxError:
        return set()
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return names | {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _assignment(op: Call, size: int) -> tuple[Location, str, str] | None:
    """The one line of the op's file that assigns a name used on the op's line (one
    local hop: ``start = START``) from a creation whose first size is written fixed,
    not as 1 (``torch.zeros(batch_size, hidden)`` in ``__init__``, a global)."""
    tree = parsed_file(op.location.filename) if op.location is not None else None
    if tree is None or op.location is None:
        return None
    names = _names(op.location.code)
    for node in ast.walk(tree):  # one hop through a local assigned on an earlier line
        earlier = isinstance(node, ast.Assign) and node.lineno < op.location.lineno
        if earlier and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):  # type: ignore[attr-defined]
            names |= _names(ast.unparse(node.value))  # type: ignore[attr-defined]
    found = {
        (node.lineno, made)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _assigned_name(tree, node) in names and (made := _sized(node, size))
    }
    if len(found) != 1:
        return None
    line, made = found.pop()
    old = ast.unparse(made)
    made.args[0] = ast.Constant(1)  # the parsed file is cached: put the written size back
    new = ast.unparse(made)
    made.args[0] = ast.parse(old, mode="eval").body.args[0]  # type: ignore[attr-defined]
    return Location(op.location.filename, line, _line(op.location.filename, line).split("  #")[0]), old, new


def _assigned_name(tree: ast.Module, call: ast.Call) -> str | None:
    """The name a creation is stored under: ``register_buffer("mask", ...)``, or the
    target of the assignment around it (``self.mask = ...``, ``MASK = ...``)."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("register_buffer", "register_parameter") and call.args:
        first = call.args[0]
        return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and _within(call, node.value):
            target = node.targets[0]
            return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return None


def _within(inner: ast.AST, outer: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def _sized(call: ast.Call, size: int) -> ast.Call | None:
    """The creation inside ``call`` whose first size is written fixed and is not 1."""
    for node in ast.walk(call):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if name in _MAKERS and not (isinstance(first, ast.Constant) and first.value == 1):
            if isinstance(first, ast.Constant) and first.value != size:
                continue
            if is_fixed(ast.unparse(first)) or names_batch(ast.unparse(first)):
                return node
    return None


def _line(filename: str, line: int) -> str:
    try:
        with open(filename, encoding="utf-8") as handle:
            return handle.read().splitlines()[line - 1].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def _finding(baked: _Baked, loader_batches: set[int]) -> Finding:
    op, maker = baked.op, baked.maker
    shapes = " and ".join(format_shape(meta) for meta in op.inputs[:2])
    where = f"{maker.name} {at_line(maker)}" if maker is not None else ""
    if baked.origin is not None:
        where = f"the tensor made at line {baked.origin.lineno} ({baked.origin.code})"
    told = "the DataLoader's batch size" if baked.size in loader_batches else "a batch size of another pass"
    if baked.size not in loader_batches and baked.size == baked.batch:
        told = f"this pass's batch size (other passes had {', '.join(map(str, sorted(baked.others)))})"
    what = f"this batch of {baked.batch} raises" if op.error is not None else "another batch size will not fit"
    broadcast = 1 in baked.others and op.error is None
    if broadcast:
        what = f"a pass with a batch of 1 is broadcast to {baked.size} copies, with no error"
    message = (
        f"{op.name} {at_line(op)} joins {shapes}: dim {baked.dim} of {where} is {baked.size}, {told}, "
        f"baked in where the batch axis lines up: {what}"
    )
    hint = _hint(baked)
    severity: Severity = "error" if op.error is not None or broadcast else "warning"
    found = finding("ST003", maker or op, message, hint, severity)
    return dataclasses.replace(found, location=baked.origin) if baked.origin is not None else found


def _hint(baked: _Baked) -> str:
    new = baked.edit[1]
    if baked.maker is not None:
        return f"use {new}"
    if baked.op.name in ("cat", "concat", "concatenate"):  # no broadcasting: expand it to the batch
        data = next(
            i for i, meta in enumerate(baked.op.inputs) if meta.shape[baked.dim : baked.dim + 1] == (baked.batch,)
        )
        made = 1 - data if len(baked.op.inputs) == 2 else None
        sizes = ", ".join(
            "-1" if d != baked.dim else f"{_operand(baked.op, data)}.size({d})"
            for d in range(baked.op.inputs[data].ndim)
        )
        joined = f"{_operand(baked.op, made)}.expand({sizes})" if made is not None else f".expand({sizes})"
        return f"build it as {new} and join {joined} {at_line(baked.op)}"
    return f"build it as {new}: 1 in the batch dim broadcasts over any batch"
