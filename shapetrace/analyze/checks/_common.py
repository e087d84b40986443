"""Small helpers the detectors share: where a call is, what it was called on."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import NamedTuple

from shapetrace.analyze.checks._source import find_call, operator_expression, subscripted, written_subscript
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_op, format_shape, tensor_name
from shapetrace.core.torch_facts import VIEW_OPS
from shapetrace.core.trace import Trace

# The operator that runs each Tensor method (``q @ k`` runs ``Tensor.matmul``).
_OPERATORS: dict[str, type[ast.operator]] = {
    "matmul": ast.MatMult,
    "add": ast.Add,
    "sub": ast.Sub,
    "mul": ast.Mult,
    "div": ast.Div,
}


def view_calls(trace: Trace) -> Iterator[Call]:
    """The view/reshape ops of ``trace`` (``torch_facts.VIEW_OPS``) that ran and made
    an output: the calls whose regrouping of axes ST002 and ST012 judge."""
    for call in trace.calls:
        if call.kind == "op" and call.name in VIEW_OPS and call.output is not None and call.inputs and not call.error:
            yield call


def written_sizes(call: Call) -> list[str] | None:
    """The size expressions of a view as written, one per output dim:
    ``["b", "self.h", "-1", "self.d"]`` for ``x.view(b, self.h, -1, self.d)``; for
    ``x.unflatten(0, (self.h, b))`` on a 3-d ``x``, ``["self.h", "b", "3", "4"]``
    (sizes it did not write, as numbers). None when the line does not show them."""
    if call.output is None:
        return None
    shape = call.output.shape
    found = find_call(call.location, {call.name}, None, call.index)
    if found is None:
        return None
    if call.name != "unflatten":
        # torch.reshape(x, sizes) names the tensor first; sizes may be one tuple: view((b, -1))
        args = list(found.args[1:] if is_function(call) else found.args)
        if len(args) == 1 and len(shape) != 1:
            try:
                one = ast.parse(args[0], mode="eval").body
            except SyntaxError:
                return None
            args = [ast.unparse(e) for e in one.elts] if isinstance(one, (ast.Tuple, ast.List)) else args
        return args if len(args) == len(shape) else None
    if len(found.args) != 2 or not found.args[0].lstrip("-").isdigit():
        return None
    try:
        sizes = ast.parse(found.args[1], mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(sizes, (ast.Tuple, ast.List)):
        return None
    dim = int(found.args[0]) % (len(shape) - len(sizes.elts) + 1)
    written = [str(size) for size in shape]
    written[dim : dim + len(sizes.elts)] = [ast.unparse(element) for element in sizes.elts]
    return written


def view_text(call: Call, tensor: str, sizes: list[str]) -> str:
    """The same kind of view of ``tensor`` to ``sizes`` (one per output dim), as written:
    ``x.view(b, 4, -1)``, ``x.unflatten(0, (b, 4))``; ``view_as``/``reshape_as`` as a reshape."""
    if call.name == "unflatten":
        found = find_call(call.location, {call.name}, None, call.index)
        ndim = len(call.inputs[0].shape)
        count = len(sizes) - ndim + 1
        dim = int(found.args[0]) % ndim if found is not None and found.args else 0
        return f"{tensor}.unflatten({dim}, ({', '.join(sizes[dim : dim + count])}))"
    name = call.name if call.name in ("view", "reshape") else "reshape"
    return f"{tensor}.{name}({', '.join(sizes)})"


def call_label(call: Call, *keys: str) -> str:
    """``lstm (LSTM, batch_first=False)``: a module with the settings that matter;
    an op as written."""
    if call.kind == "op":
        return op_text(call)
    settings = ", ".join(f"{key}={call.config[key]}" for key in keys if key in call.config)
    return f"{call.name or 'the model'} ({call.type}{', ' + settings if settings else ''})"


def raised_here(call: Call) -> bool:
    """True when the call's error began in it, not in a call inside it."""
    return call.error is not None and not any(child.error is not None for child in call.children)


def at_line(call: Call) -> str:
    """``at line 24``, the way messages name the user's line."""
    return f"at line {call.location.lineno}" if call.location is not None else "in the trace"


def pass_root(call: Call) -> Call:
    """The top-level call (one forward pass of the model) a call belongs to."""
    while call.parent is not None:
        call = call.parent
    return call


def argument_text(call: Call, position: int = 0, default: str = "x") -> str:
    """The source of a module call's argument: ``x`` in ``self.lstm(x)``."""
    attribute = call.name.rpartition(".")[2]
    found = find_call(call.location, {attribute, "forward"} if attribute else {"forward"})
    if found is not None and position < len(found.args):
        return found.args[position]
    return default


def is_function(call: Call) -> bool:
    """True for an op called as a function of its tensor (``torch.reshape(x, ...)``,
    under any alias of torch: ``th.reshape``), not as a method (``x.reshape(...)``)."""
    return call.kind == "op" and not call.type.startswith("Tensor.") and call.type.endswith(f".{call.name}")


def receiver_text(call: Call, default: str = "x") -> str:
    """The tensor an op was called on: ``out`` in ``out.view(150, 64)``."""
    if call.name == "__getitem__":
        return subscripted(call.location) or default
    found = find_call(call.location, {call.name}, occurrence=call.index)
    functional = is_function(call) or (found is not None and found.receiver in ("torch", "F", "nn.functional"))
    if found is not None and found.receiver not in (None, "torch.nn.functional") and not functional:
        return found.receiver
    if found is not None and found.args:  # torch.reshape(x, ...): the first argument
        return found.args[0]
    return default


def op_text(call: Call) -> str:
    """The op as written: ``out.view(150, 64)``, ``out[:, -1, :]``, ``q @ k.mT``,
    ``torch.zeros(1, 5, 64)``; a function of tensors by name: ``F.mse_loss``."""
    operator = _OPERATORS.get(call.name) if call.type.startswith("Tensor.") else None
    written = operator_expression(call.location, operator, call.name) if operator is not None else None
    if written is not None:
        return written
    text = format_op(call)
    if call.name == "__getitem__":
        receiver = receiver_text(call)
        # an index made of tensors (series[i:i + W], i a tensor), or of an expression
        # ((tokens != PAD)[:, None, :]): as the line writes it
        if "T" in text or not receiver.replace(".", "_").isidentifier():
            return written_subscript(call.location) or receiver + text
        return receiver + text
    if text.startswith((".", "[")):
        return receiver_text(call) + text
    if call.inputs:
        return call.type
    namespace = call.type.rpartition(".")[0]
    return f"{namespace}.{text}" if namespace else text


def operand(call: Call, meta: TensorMeta) -> str:
    """``h_0 (1, 32, 64)`` for a named input, ``a (32, 64) tensor`` otherwise."""
    name = tensor_name(call, meta, output=False)
    if name and name != meta.path:
        return f"{name} {format_shape(meta)}"
    return f"a {format_shape(meta)} tensor"


class DimCall(NamedTuple):
    """An op that takes a dim first after its tensor (``out.gather(2, idx)``,
    ``torch.index_select(out, 2, i)``), as written on its line."""

    callee: str  # ``out.gather``, ``torch.index_select``
    tensor: str  # ``out``
    before: tuple[str, ...]  # the arguments before the dim: the tensor, in the function form
    after: tuple[str, ...]  # the arguments after the dim

    def along(self, dim: int, *after: str) -> str:
        """The call written along ``dim`` (with other arguments after it, if given)."""
        return f"{self.callee}({', '.join([*self.before, str(dim), *(after or self.after)])})"


def dim_call(call: Call, arguments: int) -> DimCall | None:
    """``call`` as written, with its dim a literal and at least ``arguments`` arguments
    after its tensor (the dim among them); None when the line does not show it so."""
    found = find_call(call.location, {call.name}, None, call.index)
    at = 1 if found is not None and found.receiver in ("torch", None) else 0  # torch.gather(out, 2, idx)
    if found is None or len(found.args) < at + arguments or not found.args[at].lstrip("-").isdigit():
        return None
    tensor = found.args[0] if at else str(found.receiver)
    callee = f"torch.{call.name}" if at else f"{found.receiver}.{call.name}"
    return DimCall(callee, tensor, tuple(found.args[:at]), tuple(found.args[at + 1 :]))


def made_by(flow: TraceLineage, call: Call, index: int, names: frozenset[str], steps: int = 8) -> Call | None:
    """The op named one of ``names`` whose output input ``index`` of ``call`` is, back through
    ops that keep its shape (``.float()``, ``x * 0.9 + 0.1``); None where another op or no
    recorded one made it."""
    source = flow.source(call, index)
    for _ in range(steps):
        if source is None or source.as_input or source.call.kind != "op" or not source.call.inputs:
            return None
        made = source.call
        if made.name in names:
            return made
        if made.inputs[0].shape != made.outputs[0].shape:
            return None
        source = flow.source(made, 0)
    return None


def call_of_origin(calls: tuple[Call, ...], origin: str) -> Call | None:
    """The call an axis was born in, by its lineage origin (``cat#44:0``, ``copies#12:1``:
    the id after ``#``, a call's index in the trace)."""
    number = origin.partition("#")[2].partition(":")[0]
    return calls[int(number)] if number.isdigit() and int(number) < len(calls) else None
