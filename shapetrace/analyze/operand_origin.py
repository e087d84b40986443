"""Where the mismatched sizes of a failing elementwise op came from.

PyTorch's "The size of tensor a (2) must match the size of tensor b (5) at
non-singleton dimension 0" names neither tensor. Inside a user's own
recurrent loop the usual cause is the step: ``x[t]`` walks dim 0 of a
batch-first input, so each "step" is a sample and the 5 is time. From the
lineage, each operand's offending dim is traced to the axis it is: a dim of
the tensor an index stepped through, or of the tensor a call made.
"""

from __future__ import annotations

import ast
import re

from shapetrace.analyze.checks._common import op_text, receiver_text
from shapetrace.analyze.lineage.atoms import Atom, dim_of
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import integer_indices
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_MISMATCH = re.compile(
    r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) "
    r"at non-singleton dimension (\d+)"
)
_MADE = re.compile(r"^(?:input#(\d+)\[([^\]]*)\]|[\w.]+#(\d+)):(\d+)$")
_STEPPING = frozenset({"__getitem__", "select", "unbind"})


def _subscript_text(call: Call, receiver: str) -> str | None:
    """``x[t]`` as written on the line, for an index op on ``receiver``."""
    if call.location is None or not call.location.code:
        return None
    try:
        tree = ast.parse(call.location.code.strip().rstrip(":") or "None")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == receiver:
            return ast.unparse(node)
    return None


def _made_by(trace: Trace, atom: Atom) -> str | None:
    """``dim 0 of torch.zeros(2, 4) at line 7`` or ``dim 1 of the model's input (2, 5, 3)``."""
    match = _MADE.match(atom.origin)
    if match is None:
        return None
    root_id, path, call_id, dim = match.groups()
    made = next((c for c in trace.calls if c.id == int(root_id or call_id)), None)
    if made is None:
        return None
    if root_id is not None:
        meta = made.input_at(path)
        return f"dim {dim} of the model's input {format_shape(meta)}" if meta is not None else None
    if made.kind == "op" and not made.inputs and made.location is not None:
        return f"dim {dim} of {op_text(made)} at line {made.location.lineno}"
    return None


def _stepped(flow: TraceLineage, call: Call, index: int, atom: Atom, trace: Trace) -> str | None:
    """How an index op made operand ``index`` by stepping through another tensor's dim."""
    for source in flow.producers(call, index):
        op = source.call
        if op.kind != "op" or op.name not in _STEPPING or not op.inputs:
            continue
        lineage = flow.input_lineage(op, 0)
        picked = integer_indices(op, len(lineage)) if op.name != "unbind" else {0: 0}
        if not picked:
            continue
        axis = min(picked)
        where = dim_of(lineage, atom)
        receiver = receiver_text(op, "x")
        written = _subscript_text(op, receiver) or op_text(op)
        line = f" at line {op.location.lineno}" if op.location is not None else ""
        text = f"{written}{line} steps through dim {axis} of {receiver} {format_shape(op.inputs[0])}"
        if where is not None:
            text += f", so its {atom.size} is {receiver}'s dim {where}"
        origin = _made_by(trace, lineage[axis][0]) if len(lineage[axis]) == 1 else None
        if origin is not None:
            text += f" ({receiver}'s dim {axis} is {origin})"
        if axis == 0 and op.inputs[0].ndim == 3 and where == 1:
            text += (
                f"; in a batch-first input dim 0 is the batch: {written} is one sample, not one time "
                f"step ({receiver}[:, t] steps through time)"
            )
        return text
    return None


def operand_origins(trace: Trace, call: Call, flow: TraceLineage) -> list[str]:
    """One line per operand of a broadcasting error: where its mismatched size came from."""
    match = _MISMATCH.search(call.error or "")
    tensors = [k for k, meta in enumerate(call.inputs)][:2]
    if match is None or len(tensors) != 2:
        return []
    position = int(match.group(3))
    ndim = max(call.inputs[k].ndim for k in tensors)
    lines = []
    for name, k in zip("ab", tensors):
        meta = call.inputs[k]
        d = meta.ndim - (ndim - position)
        lineage = flow.input_lineage(call, k)
        if not 0 <= d < len(lineage) or len(lineage[d]) != 1:
            continue
        atom = lineage[d][0]
        stepped = _stepped(flow, call, k, atom, trace)
        made = _made_by(trace, atom) if stepped is None else None
        if stepped is not None:
            lines.append(f"tensor {name} {format_shape(meta)}: {stepped}")
        elif made is not None:
            lines.append(f"tensor {name} {format_shape(meta)}: its dim {d} ({meta.shape[d]}) is {made}")
    return lines
