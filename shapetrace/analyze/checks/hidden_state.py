"""ST007 hidden-state-mismatch: h_0/c_0 not (layers * directions, batch, hidden).

PyTorch raises ``Expected hidden size (2, 32, 64), got [1, 32, 64]``; this
says which part is off and why: a bidirectional or stacked RNN needs a slot
per layer and direction, ``batch_first`` never applies to h_0, and the
batch is the input's dim 0 only with ``batch_first=True``.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import argument_text, at_line, call_label
from shapetrace.analyze.checks._rnn import directions, hidden_inputs, is_cell, is_rnn, rnn_input
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.checks._state_layout import layout_explains_state
from shapetrace.analyze.checks._state_origin import describe_origin, short_last_batch, state_maker
from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call, Location
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape, tensor_name
from shapetrace.core.trace import Trace


def expected_hidden(call: Call, meta: TensorMeta) -> tuple[int, ...] | None:
    """The shape ``meta`` (an h_0 or c_0 of ``call``) must have."""
    source = rnn_input(call)
    if source is None or source.ndim not in (2, 3):
        return None
    slots = call.config.get("num_layers", 1) * directions(call)
    size = call.config.get("hidden_size")
    proj = call.config.get("proj_size") or 0
    if proj and not meta.path.endswith("1"):  # an LSTM's h_0 has proj_size features, its c_0 hidden_size
        size = proj
    if not isinstance(size, int) or not isinstance(slots, int):
        return None
    if source.ndim == 2:
        return (slots, size)
    batch = source.shape[0 if call.config.get("batch_first") else 1]
    return (slots, batch, size)


def _reason(call: Call, meta: TensorMeta, expected: tuple[int, ...]) -> tuple[str, str]:
    """Why the shape is off, and the fix."""
    got = meta.shape
    name = tensor_name(call, meta, output=False)
    if len(got) != len(expected):
        fix = f": {name}.unsqueeze(0)" if len(got) == len(expected) - 1 else ""
        return f"it has {len(got)} dims, not {len(expected)}", f"make it {format_dims(expected)}{fix}"
    if len(got) == 3 and got == (expected[1], expected[0], expected[2]):
        return (
            "batch_first does not apply to h_0 and c_0: they stay (layers * directions, batch, hidden)",
            f"use {name}.transpose(0, 1).contiguous()",
        )
    if got[0] != expected[0]:
        layers, bidirectional = call.config.get("num_layers", 1), call.config.get("bidirectional")
        why = f"num_layers={layers}" + (" times 2 directions" if bidirectional else "")
        slots = "num_layers * 2" if bidirectional else "num_layers"
        return (f"dim 0 must be {expected[0]} ({why})", f"make it with {slots} in dim 0: {format_dims(expected)}")
    if len(got) == 3 and got[1] != expected[1]:
        axis = 0 if call.config.get("batch_first") else 1
        return (
            f"dim 1 must be the batch size, {expected[1]}, which is dim {axis} of the input "
            f"with batch_first={bool(call.config.get('batch_first'))}",
            f"make it with x.size({axis}) in dim 1",
        )
    return (f"its last dim must be hidden_size={expected[-1]}", f"make it with {expected[-1]} in its last dim")


def _carried(trace: Trace, call: Call, meta: TensorMeta, why: str, hint: str) -> tuple[str, str]:
    """A state made for another batch size: where it was made, and the batches before
    (a state's batch is its dim 1, a cell's hx's its dim 0)."""
    flow = trace_lineage(trace)
    state_dim = 0 if is_cell(call) else 1
    full = meta.shape[state_dim]
    origin = describe_origin(trace, flow, call, call.inputs.index(meta), full)
    short = short_last_batch(trace, call, full)
    if origin is None and short is None:
        return why, hint
    name = tensor_name(call, meta, output=False)
    made, how = origin or (f"built for a batch of {full} (its dim {state_dim}) where nothing was recorded", "carried")
    parts = [why, f"{name} is {made}"] + ([short] if short else [])
    axis = 0 if call.config.get("batch_first") or state_dim == 0 else 1
    maker = state_maker(trace, flow, call, call.inputs.index(meta))
    # (inside the pass, the batch is read from the layer's input as forward names it)
    data = argument_text(call, 0) if how == "made" else "x"
    data = data if data.isidentifier() else "x"
    called = _call_fix(maker, f"{data}.size({axis})")
    if how == "made":
        where = f": {called[0]}, not {called[1]} at line {called[2]}" if called else " where it is made"
        hint = f"make it with {data}.size({axis}) in dim {state_dim}{where}"
    else:  # a state kept from batch to batch, or rebuilt at one size
        hint = f"build the state for each batch from the data, with x.size({axis}) in dim {state_dim} "
        if called is not None and how == "rebuilt":
            hint += f"({called[0]} at line {called[2]}, not {called[1]})"
        elif called is not None:
            hint += f"({called[0]} per batch, where line {called[2]} makes {called[1]} once)"
        else:
            hint += f"({maker[0]}(x.size({axis})) per batch" if maker else "(made per batch"
            hint += ", not once per epoch)"
    if short and "the short last batch" in short:
        hint += ", or drop the short last batch: DataLoader(..., drop_last=True)"
    return "; ".join(parts), hint


def _call_fix(maker: tuple[str, Location | None] | None, size: str) -> tuple[str, str, int] | None:
    """``("init_hidden(x.size(0))", "init_hidden(BATCH_SIZE)", 50)``: the call that makes the
    state with the batch's size, the call as written and its line, where the line that
    called the maker is known and passes it one argument."""
    function, called = maker or ("", None)
    if called is None:
        return None
    written = find_call(called, {function}, 1)
    if written is None or len(written.args) != 1:
        return None
    return f"{function}({size})", f"{function}({written.args[0]})", called.lineno


def _layout_first(trace: Trace, call: Call, meta: TensorMeta, why: str, hint: str) -> tuple[str, str]:
    """Where a wrong ``batch_first`` (ST001) is why the state does not fit, the state
    needs no edit: the help is the layout's fix (``_state_layout.py``)."""
    explained = layout_explains_state(trace, trace_lineage(trace), call, call.inputs.index(meta))
    if explained is None:
        return why, hint
    layout, layer = explained
    line = f"line {layout.location.lineno}" if layout.location is not None else "its line"
    name, fix = tensor_name(call, meta, output=False), layout.hint
    if layer == "this layer":
        why += f"; it is made for the data's batch of {meta.shape[1]}, which this layer takes as time (ST001 at {line})"
    else:
        why += f"; {layer} takes the data's time axis ({meta.shape[1]} steps) as its batch (ST001 at {line})"
        fix = fix.replace("build it ", f"build {layer} ", 1)
    return why, f"the state follows from the layout: {fix} (ST001 at {line}), and {name} fits as it is"


@register("ST007", "hidden-state-mismatch", "error", "h_0/c_0 shape is not (layers*directions, batch, hidden)")
def check_hidden_state(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        if not is_rnn(call):
            continue
        for meta in hidden_inputs(call):
            expected = expected_hidden(call, meta)
            if expected is None or meta.shape == expected:
                continue
            why, hint = _reason(call, meta, expected)
            if len(meta.shape) == 3 == len(expected) and meta.shape[0] == expected[0] and meta.shape[1] != expected[1]:
                why, hint = _carried(trace, call, meta, why, hint)
                why, hint = _layout_first(trace, call, meta, why, hint)
            message = (
                f"{call_label(call, 'num_layers', 'bidirectional', 'batch_first')} {at_line(call)} "
                f"got {tensor_name(call, meta, output=False)} {format_shape(meta)}, expected "
                f"{format_dims(expected)}: {why}"
            )
            yield finding("ST007", call, message, _both_states(call, meta, hint))
            break  # c_0 is usually built like h_0: one finding says it
    for call in trace.calls:
        if is_cell(call):
            yield from _cell_state(trace, call)


def _both_states(call: Call, meta: TensorMeta, hint: str) -> str:
    """The help for ``meta`` (h_0), and for c_0 too where an LSTM got it of the same wrong
    shape: applied to h_0 alone, the call raises again on c_0."""
    name = tensor_name(call, meta, output=False)
    others = [other for other in hidden_inputs(call) if other is not meta and other.shape == meta.shape]
    if not others or not hint.startswith(f"use {name}."):
        return hint
    other = tensor_name(call, others[0], output=False)
    return f"{hint} and {hint[len('use ') :].replace(name, other, 1)}"


def _cell_state(trace: Trace, call: Call) -> Iterator[Finding]:
    """A cell's hx (h, or an LSTMCell's (h, c)) whose dim 0 is not its input's batch:
    PyTorch raises "Input batch size 13 doesn't match hidden0 batch size 16"."""
    source = rnn_input(call)
    size = call.config.get("hidden_size")
    if source is None or source.ndim != 2 or not isinstance(size, int):
        return
    for meta in hidden_inputs(call):
        if meta.ndim != 2 or meta.shape[0] == source.shape[0]:
            continue
        why, hint = _carried(
            trace, call, meta, f"dim 0 must be the input's batch, {source.shape[0]}", "make it with x.size(0) in dim 0"
        )
        message = (
            f"{call_label(call)} {at_line(call)} got {tensor_name(call, meta, output=False)} {format_shape(meta)} "
            f"with an input of {format_shape(source)}, expected {format_dims((source.shape[0], size))}: {why}"
        )
        yield finding("ST007", call, message, hint)
        return
