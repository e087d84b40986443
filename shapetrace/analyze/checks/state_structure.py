"""ST015 recurrent-state-structure: an LSTM given one tensor (or a tuple of one), a GRU/RNN a pair.

``nn.LSTM`` takes its initial state as the pair ``(h_0, c_0)``; ``nn.GRU``
and ``nn.RNN`` take ``h_0`` alone. Code ported from one to the other keeps
the old structure, and PyTorch then fails with an error that names neither:
an LSTM given one ``(1, 2, 10)`` tensor unpacks it along dim 0 (``hx[0]``,
``hx[1]``) and raises "index 1 is out of bounds for dimension 0 with size 1"
or "Expected hidden[0] size (1, 2, 10), got [2, 10]"; a GRU given a tuple
raises a TypeError about tuples; an LSTM given ``(h_0,)`` raises "tuple index out of
range".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.checks._source import assigned_to, find_call
from shapetrace.analyze.checks._state_origin import state_origin
from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.analyze.lineage.module_rules import CELL_TYPES, is_builtin
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace

_SINGLE = ("1", "hx")
_PAIR = ("1.0", "1.1", "hx.0", "hx.1")


def _state_text(call: Call, default: str) -> str:
    """The state argument as the user wrote it: ``state`` in ``self.rnn(x, state)``."""
    found = find_call(call.location, {call.name.rpartition(".")[2], "forward"})
    if found is not None and len(found.args) >= 2:
        return found.args[1]
    return default


def _first_of(text: str) -> str:
    """``h_0`` of ``(h_0, c_0)`` written out; ``state[0]`` of a name."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return f"{text}[0]"
    return ast.unparse(node.elts[0]) if isinstance(node, ast.Tuple) and node.elts else f"{text}[0]"


def _with_returned_cell(trace: Trace, call: Call, state: TensorMeta) -> str | None:
    """``pass (h, c): the c_n that encoder returned beside h at line 40``, where the one
    state given is an LSTM's h_n and the line that called that LSTM unpacked its c_n to
    a name: zeros in its place would drop the memory the encoder built."""
    source = state_origin(trace_lineage(trace), call, call.inputs.index(state))
    if source is None or source.call.type != "LSTM" or source.meta.path != "1.0":
        return None
    returned = source.call
    while returned.parent is not None and returned.location == returned.parent.location:
        returned = returned.parent  # (the user's line called the module that holds the LSTM)
    h, c = assigned_to(returned.location, "1.0"), assigned_to(returned.location, "1.1")
    if h is None or c is None:
        return None
    return f"pass ({h}, {c}): the c_n that {source.call.name} returned beside {h} {at_line(returned)}"


@register(
    "ST015",
    "recurrent-state-structure",
    "error",
    "an LSTM given one state tensor where it takes (h_0, c_0), or a GRU/RNN given a pair",
)
def check_state_structure(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        if not (is_rnn(call) or (is_builtin(call) and call.type in CELL_TYPES)):
            continue
        single = [meta for meta in call.inputs if meta.path in _SINGLE]
        pair = [meta for meta in call.inputs if meta.path in _PAIR]
        label = call_label(call)
        pair_name = "(h_0, c_0)" if call.type == "LSTM" else "(h, c)"
        if call.type in ("LSTM", "LSTMCell") and len(pair) == 1:  # ``(h_0,)``: c_0 left out
            first = _first_of(_state_text(call, "state"))
            message = (
                f"{label} {at_line(call)} got a state tuple of one tensor, {format_shape(pair[0])}, where an "
                f"{call.type} takes the pair {pair_name}: PyTorch reads c_0 past the tuple's end"
            )
            yield finding("ST015", call, message, f"pass {pair_name}, e.g. ({first}, torch.zeros_like({first}))")
        elif call.type in ("LSTM", "LSTMCell") and single and not pair:
            state = single[0]
            text = _state_text(call, "h_0")
            message = (
                f"{label} {at_line(call)} got one state tensor {format_shape(state)} where an {call.type} "
                f"takes the pair {pair_name}"
            )
            if call.type == "LSTM" and state.ndim:
                message += (
                    f": it unpacks the tensor along dim 0, so h_0 becomes {text}[0] {format_dims(state.shape[1:])}"
                )
            hint = _with_returned_cell(trace, call, state) or (
                f"pass {pair_name}, e.g. ({text}, torch.zeros_like({text}))"
            )
            yield finding("ST015", call, message, hint)
        elif call.type in ("GRU", "RNN", "GRUCell", "RNNCell") and pair:
            text = _state_text(call, "state")
            shapes = ", ".join(format_shape(meta) for meta in pair)
            message = (
                f"{label} {at_line(call)} got a state of {len(pair)} tensors ({shapes}) where a "
                f"{call.type} takes h_0 alone"
            )
            hint = f"pass h_0 alone: {_first_of(text)}"
            yield finding("ST015", call, message, hint)
