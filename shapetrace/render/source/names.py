"""The names a ``forward`` gives its inputs (``src``, ``tgt``, ``input_ids``),
for the views that label a call's inputs by position.

A user-defined forward's names come from its source (``Call.defined_at``, so
a trace loaded from JSON has them too); a PyTorch module's from its class in
``torch.nn``. A position caught by ``*args`` has no name.
"""

from __future__ import annotations

import ast
import functools
import inspect

from shapetrace.analyze.operand_text import operand_name
from shapetrace.core.records import Call, Location
from shapetrace.core.source_file import read_lines
from shapetrace.errors import SourceNotFoundError
from shapetrace.render.source.reader import _function_at as function_at  # one parser for both


def input_name(call: Call, path: str) -> str | None:
    """``tgt`` for input path ``1`` of ``nn.Transformer``; ``hx[0]`` for
    ``1.0`` of a forward ``(self, input, hx)``; None when unknown.

    >>> input_name(t.root, "0")        # the article's LSTM.forward(self, input_seq)
    'input_seq'
    """
    head, _, rest = path.partition(".")
    if not head.isdigit():
        return None  # a keyword argument: its path is its name already
    names = parameter_names(call)
    position = int(head)
    if names is None or position >= len(names) or not names[position]:
        return None
    return names[position] + "".join(f"[{part}]" for part in rest.split(".") if part)


def forward_input_name(call: Call, path: str, known: str | None) -> str | None:
    """The name a view gives input ``path`` of ``call``, ``known`` being the
    one ``torch_facts`` gives it (None if none): a user's forward names its own
    inputs (``x``, ``lengths``); PyTorch's names those ``torch_facts`` leaves
    unnamed (``tgt`` and ``memory`` of ``TransformerDecoder``; ``LSTM`` keeps
    ``h_0``). None when neither names it.

    >>> forward_input_name(t.root, "0", None)        # the article's forward(self, input_seq)
    'input_seq'
    >>> forward_input_name(t["lstm"], "1.0", "h_0")  # PyTorch's name for an LSTM's state
    'h_0'

    An op's inputs PyTorch leaves unnamed are named by their source text
    (``operands.operand_name``): ``h`` and ``self.W`` for ``torch.mm(h, self.W)``.
    """
    if call.kind == "op":  # PyTorch's names first: a loss's ``input`` and ``target``
        return known or operand_name(call, path)
    if call.defined_at is not None or known is None:
        return input_name(call, path) or known
    return known


def parameter_names(call: Call) -> tuple[str, ...] | None:
    """The forward's positional parameters after ``self`` ("" from ``*args`` on)."""
    if call.kind != "module":
        return None
    if call.defined_at is not None:
        return _names_in_source(call.defined_at)
    return _names_of_builtin(call.type)


@functools.lru_cache(maxsize=256)
def _names_in_source(defined_at: Location) -> tuple[str, ...] | None:
    try:
        lines = read_lines(defined_at.filename)
    except SourceNotFoundError:
        return None
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    function = function_at(tree, defined_at.lineno)
    if function is None:
        return None
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)][1:]  # after self
    return (*names, *([""] if arguments.vararg is not None else []))


@functools.lru_cache(maxsize=256)
def _names_of_builtin(type_name: str) -> tuple[str, ...] | None:
    from torch import nn

    kind = getattr(nn, type_name, None)
    if not isinstance(kind, type) or not issubclass(kind, nn.Module):
        return None
    try:
        signature = inspect.signature(kind.forward)
    except (TypeError, ValueError):
        return None
    names = []
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            names.append("")
            break
    return tuple(names)
