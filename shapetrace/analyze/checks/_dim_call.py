"""A call's dim argument: the dim a softmax ran over (given or picked by PyTorch),
and the call as written on its line with that argument changed (a help's code)."""

from __future__ import annotations

import ast
import copy

from shapetrace.analyze.checks._common import call_label, op_text
from shapetrace.analyze.checks._source import _call_name, _parse
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import argument, axis_of
from shapetrace.core.records import Call

SOFTMAX_OPS = frozenset({"softmax", "log_softmax", "softmin"})
SOFTMAX_MODULES = frozenset({"Softmax", "LogSoftmax", "Softmin"})
_FUNCTION_RECEIVERS = frozenset({"torch", "F", "nn.functional", "torch.nn.functional"})


def softmax_dim(call: Call) -> tuple[int, bool] | None:
    """``(dim, implicit)`` of a softmax call, the dim counted from 0; ``implicit``
    when none was given and PyTorch picked it (0 for 0-, 1- and 3-d inputs, else 1:
    ``torch.nn.functional._get_softmax_dim``). None when not a softmax."""
    if call.kind == "op" and call.name in SOFTMAX_OPS:
        dim = argument(call, 0, "dim")
    elif is_builtin(call) and call.type in SOFTMAX_MODULES:
        dim = call.config.get("dim")
    else:
        return None
    ndim = call.inputs[0].ndim if call.inputs else 0
    implicit = dim is None
    if implicit:
        dim = 0 if ndim in (0, 1, 3) else 1
    axis = axis_of(dim, ndim)
    return (axis, implicit) if axis is not None else None


def _dim_node(node: ast.Call) -> ast.expr | None:
    """The dim argument of a written call: by keyword, else by position (after the
    tensor in ``torch.softmax(x, 0)``, first in ``x.softmax(0)``)."""
    keyword = next((kw for kw in node.keywords if kw.arg == "dim"), None)
    if keyword is not None:
        return keyword.value
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    position = 1 if receiver is None or ast.unparse(receiver) in _FUNCTION_RECEIVERS else 0
    return node.args[position] if len(node.args) > position else None


def rewritten(call: Call, dim: int | str, ran: int | None) -> tuple[str, str] | None:
    """The call as written on its line, and the same with its dim argument set to
    ``dim`` (added when it had none): ``F.softmax(logits, dim=1)``; None when not
    found. ``ran``: the dim the call ran with (told apart from a call of the same
    name in another branch of the line, ``x.sum(1) if a else x.sum(0)``)."""
    tree = _parse(call.location.code) if call.location is not None and call.location.code else None
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.Call)] if tree is not None else []
    nodes = [node for node in nodes if _call_name(node) == call.name]
    ndim = call.inputs[0].ndim if call.inputs else 0
    fitting = [node for node in nodes if _written_dim(node, ndim) in (ran, None)]
    nodes = fitting or nodes
    if not nodes:
        return None
    written = nodes[call.index % len(nodes)]
    node = copy.deepcopy(written)
    value = ast.Constant(dim) if isinstance(dim, int) else ast.Name(dim)
    old = _dim_node(node)
    keyword = next((kw for kw in node.keywords if kw.arg == "dim"), None)
    if keyword is not None:
        keyword.value = value
    elif old is not None:
        node.args[node.args.index(old)] = value
    else:
        node.keywords.append(ast.keyword("dim", value))
    return ast.unparse(written), ast.unparse(node)


def _written_dim(node: ast.Call, ndim: int) -> int | None:
    """The dim a written call gives as an integer literal, counted from 0; None otherwise."""
    value = _dim_node(node)
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        value = ast.Constant(-value.operand.value) if isinstance(value.operand.value, int) else None
    number = value.value if isinstance(value, ast.Constant) else None
    return axis_of(number, ndim) if isinstance(number, int) else None


def softmax_fix(call: Call, dim: int, ran: int | None) -> tuple[str, str]:
    """``(label, help)`` for a softmax that should have run over ``dim``: the call as
    written and the same with ``dim`` (``use F.softmax(x, dim=1)``), or, for a module,
    its label and how to build it (``build it with nn.Softmax(dim=1)``). ``ran``: the
    dim it ran with, None when PyTorch picked it."""
    if call.kind == "module":
        return call_label(call, "dim"), f"build it with nn.{call.type}(dim={dim})"
    texts = rewritten(call, dim, ran)
    return (texts[0], f"use {texts[1]}") if texts else (op_text(call), f"pass dim={dim}")


__all__ = ["SOFTMAX_MODULES", "SOFTMAX_OPS", "rewritten", "softmax_dim", "softmax_fix"]
