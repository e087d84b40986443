"""The one call of a helper function, edited: a fix given where the helper is called
(``smape(forecast.squeeze(1), y)``) rather than inside it, from the source."""

from __future__ import annotations

import ast
import copy

from shapetrace.analyze.checks._source import _call_name, _operand_text, _parse, parsed_file
from shapetrace.core.records import Location


def call_with_argument(location: Location | None, parameter: str, suffix: str) -> tuple[str, str, int] | None:
    """``("smape(pred, y)", "smape(pred.squeeze(1), y)", 62)``: the one call in the file of
    the function around ``location`` (a loss written as a helper, ``def smape(pred,
    target)``), with the argument it passes as ``parameter`` followed by ``suffix``; None
    where the function's name is called other than once in the file, not as the function
    is (``smape(...)``, a method as ``self.name(...)``), with ``*args``, where
    ``parameter`` is not one of its parameters or is assigned anew before ``location``, or
    where the file does not parse."""
    tree = parsed_file(location.filename) if location is not None else None
    if tree is None or location is None:
        return None
    found = _function_at_line(tree, location)
    if found is None:
        return None
    function, method = found
    names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if parameter not in names or _assigned_before(function, parameter, location.lineno):
        return None
    inside = range(function.lineno, (function.end_lineno or function.lineno) + 1)
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _call_name(node) == function.name and node.lineno not in inside
    ]
    if len(calls) != 1:
        return None
    call = calls[0]
    func = call.func
    as_method = (
        isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls")
    )
    if (as_method if method else isinstance(func, ast.Name)) is False or any(
        isinstance(a, ast.Starred) for a in call.args
    ):
        return None
    position = names.index(parameter) - (1 if method else 0)
    edited = copy.deepcopy(call)
    keyword = next((k for k in edited.keywords if k.arg == parameter), None)
    if keyword is not None:
        keyword.value = _parse_expression(f"{_operand_text(keyword.value)}{suffix}", keyword.value)
    elif 0 <= position < len(edited.args):
        argument = edited.args[position]
        edited.args[position] = _parse_expression(f"{_operand_text(argument)}{suffix}", argument)
    else:
        return None
    return ast.unparse(call), ast.unparse(edited), call.lineno


def _function_at_line(tree: ast.Module, location: Location) -> tuple[ast.FunctionDef, bool] | None:
    """The function named ``location.function`` around its line, with whether it is a method
    (defined in a class body, not a staticmethod)."""
    found = []
    for owner in ast.walk(tree):
        body = getattr(owner, "body", ())
        for node in body if isinstance(body, list) else ():
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == location.function
                and node.lineno <= location.lineno <= (node.end_lineno or node.lineno)
            ):
                static = any(ast.unparse(d) == "staticmethod" for d in node.decorator_list)
                found.append((node, isinstance(owner, ast.ClassDef) and not static))
    return found[0] if len(found) == 1 else None


def _assigned_before(function: ast.FunctionDef, name: str, lineno: int) -> bool:
    """Whether ``function`` binds ``name`` anew before ``lineno`` (``pred = pred.transpose(1, 2)``)."""
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        if (
            node is not function
            and getattr(node, "lineno", lineno) < lineno
            and any(isinstance(n, ast.Name) and n.id == name for target in targets for n in ast.walk(target))
        ):
            return True
    return False


def _parse_expression(text: str, fallback: ast.expr) -> ast.expr:
    tree = _parse(text)
    return tree.body[0].value if isinstance(tree, ast.Module) and isinstance(tree.body[0], ast.Expr) else fallback
