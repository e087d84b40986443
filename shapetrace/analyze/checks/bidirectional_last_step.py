"""ST006 bidirectional-last-step: the last step of a bidirectional output.

The output of a bidirectional RNN concatenates, at each step, the forward
state (all steps up to it) and the backward state (all steps from it to the
end). At the last step the backward half has seen that one step only, so
``out[:, -1, :]`` summarises the sequence in one direction only. Taking the
forward half alone (``out[:, -1, :hidden]``) is fine and not reported.

The final state ``h_n`` is (num_layers * 2, batch, hidden), layer by layer and,
in each layer, forward then backward: ``h_n[-1]`` is the last layer's
BACKWARD direction alone, not "the last layer". An index that picks one
direction of a layer whose other direction the code never reads is reported
(``torch.cat((h_n[-2], h_n[-1]), dim=1)`` reads both and is not).
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root, receiver_text
from shapetrace.analyze.checks._final_state import one_direction_picks, state_name
from shapetrace.analyze.checks._rnn import Layout, both_directions_hint, first_layouts, is_rnn, ops_after
from shapetrace.analyze.checks._steps import step_index, unpacked_outputs
from shapetrace.analyze.lineage.atoms import dim_of
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.module_rules import hidden_origin
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


def _last_steps(flow: TraceLineage, lay: Layout) -> Iterator[Call]:
    """Ops that pick the last step of the output with both directions' features whole."""
    width = lay.call.outputs[0].shape[-1]
    features = hidden_origin(lay.call)
    for op, lineage in ops_after(flow, lay):
        time = dim_of(lineage, lay.time[0])
        if time is None or not op.outputs:
            continue
        whole = [
            dim
            for dim in flow.output_lineage(op, 0)
            if len(dim) == 1 and dim[0].origin == features and dim[0].size == width
        ]
        if not whole:
            continue
        index = step_index(flow, op, time, len(lineage))
        if index in (-1, op.inputs[0].shape[time] - 1):
            yield op


def _hint(flow: TraceLineage, lay: Layout, op: Call) -> str:
    """The help, its forward-half form indexing the tensor the op indexes: time where
    that tensor has it (``out.transpose(0, 1)[-1, :, :12]``, not the RNN output's dim)."""
    time = dim_of(flow.input_lineage(op, 0), lay.time[0])
    return both_directions_hint(lay.call, receiver_text(op, "output"), lay.time_dim if time is None else time)


def _packed_layouts(flow: TraceLineage, trace: Trace) -> Iterator[tuple[Layout, Call]]:
    """A bidirectional RNN run on a PackedSequence, read through
    ``pad_packed_sequence``: the layout of the padded output, and the unpacking op."""
    for op, rnn, batch_dim in unpacked_outputs(flow, trace):
        if not rnn.config.get("bidirectional"):
            continue
        lineage = flow.output_lineage(op, 0)
        batch, time = lineage[batch_dim], lineage[1 - batch_dim]
        if len(batch) == 1 and len(time) == 1:
            yield Layout(rnn, op.outputs[0], batch_dim, batch, time), op


def _from_lengths_minus_one(flow: TraceLineage, op: Call, path: str) -> bool:
    """Whether an index was computed as ``lengths - 1``: the last valid step."""
    position = next((k for k, meta in enumerate(op.inputs) if meta.path in (path, "index")), None)
    if position is None:
        return False
    for source in flow.producers(op, position):
        made = source.call
        scalars = [arg for arg in made.args if isinstance(arg, int) and not isinstance(arg, bool)]
        if (made.name in ("sub", "__sub__", "sub_") and scalars == [1]) or (
            made.name in ("add", "__add__") and scalars == [-1]
        ):
            return True
    return False


def _time_index_input(op: Call, time: int, ndim: int) -> str | None:
    """The path of the index tensor an op picks the time steps with: a
    gather along time, or ``out[arange(B), lengths - 1]``."""
    if op.name == "gather":
        dim = op.args[1] if len(op.args) > 1 else op.kwargs.get("dim")
        return "2" if isinstance(dim, int) and dim % ndim == time else None
    if op.name != "__getitem__" or len(op.args) < 2:
        return None
    items = op.args[1] if isinstance(op.args[1], tuple) else (op.args[1],)
    item = items[time] if time < len(items) and {"ellipsis": True} not in items else None
    return item["tensor"] if isinstance(item, dict) and "tensor" in item else None


def _gathered_last_steps(flow: TraceLineage, lay: Layout, after: Call) -> Iterator[Call]:
    """The step at ``lengths - 1`` picked by a tensor index (``gather`` along
    time, ``out[arange(B), lengths - 1]``) with the features whole."""
    if not lay.call.outputs or not lay.call.outputs[0].shape:
        return
    width = lay.call.outputs[0].shape[-1]
    features = hidden_origin(lay.call)
    for op, lineage in ops_after(flow, lay):
        if op.name not in ("gather", "__getitem__") or op.id < after.id or not op.outputs:
            continue
        time = dim_of(lineage, lay.time[0])
        path = _time_index_input(op, time, len(lineage)) if time is not None else None
        if path is None:
            continue
        whole = any(len(d) == 1 and d[0].origin == features and d[0].size == width for d in flow.output_lineage(op, 0))
        if whole and _from_lengths_minus_one(flow, op, path):
            yield op


def _direction_hint(call: Call, name: str) -> str:
    hidden = call.config.get("hidden_size", "hidden_size")
    width = 2 * hidden if isinstance(hidden, int) else "2 * hidden_size"
    return (
        f"read both directions of the last layer: torch.cat(({name}[-2], {name}[-1]), dim=1), "
        f"(batch, 2 * {hidden}); the layer that reads it then takes {width} features"
    )


def _one_direction_findings(flow: TraceLineage, trace: Trace) -> Iterator[Finding]:
    """ST006 on a final state read one direction of a layer at a time
    (``h_n[-1]``), for the first call of each bidirectional RNN in each pass,
    packed input or not."""
    seen: set[tuple[int, str]] = set()
    for call in trace.calls:
        key = (pass_root(call).id, call.name)
        if not is_rnn(call) or not call.config.get("bidirectional") or key in seen:
            continue
        seen.add(key)
        layers = int(call.config.get("num_layers", 1) or 1)
        state = next((meta for meta in call.outputs if meta.ndim == 3 and meta.shape[0] == 2 * layers), None)
        for op, row in one_direction_picks(flow, call):
            layer, direction = divmod(row, 2)
            name = state_name(flow, op, 2 * layers)
            message = (
                f"{op_text(op)} {at_line(op)} reads one row of {call_label(call, 'bidirectional')} final state "
                f"{name} {format_shape(state) if state else ''}, (num_layers * 2, batch, hidden): row {row} is "
                f"layer {layer}{' (the last)' if layer == layers - 1 else ''}'s {('forward', 'backward')[direction]} "
                f"direction alone; its {('backward', 'forward')[direction]} direction (row {row ^ 1}) is never read"
            )
            yield finding("ST006", op, message, _direction_hint(call, name))


@register(
    "ST006",
    "bidirectional-last-step",
    "warning",
    "the last time step taken from a bidirectional output (backward half has seen one step)",
)
def check_bidirectional_last_step(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    for lay in first_layouts(flow, trace.calls):
        call = lay.call
        if not call.config.get("bidirectional") or not call.outputs:
            continue
        for op in _last_steps(flow, lay):
            message = (
                f"{op_text(op)} {at_line(op)} takes the last step of {call_label(call, 'bidirectional')} "
                f"output {format_shape(call.outputs[0])}: its backward half (features "
                f"{call.config.get('hidden_size')}:) has seen only that one step"
            )
            yield finding("ST006", op, message, _hint(flow, lay, op))
    yield from _one_direction_findings(flow, trace)
    layouts = [
        (lay, lay.call)
        for lay in first_layouts(flow, trace.calls)
        if lay.call.config.get("bidirectional") and lay.call.outputs
    ]
    for lay, call in layouts:  # padded (not packed) input, read at lengths - 1
        for op in _gathered_last_steps(flow, lay, call):
            message = (
                f"{op_text(op)} {at_line(op)} takes the step at index lengths - 1, the last valid one, of "
                f"{call_label(call, 'bidirectional')} output {format_shape(call.outputs[0])}: its backward "
                f"half (features {call.config.get('hidden_size')}:) has seen only that one step"
            )
            yield finding("ST006", op, message, _hint(flow, lay, op))
    for lay, unpack in _packed_layouts(flow, trace):
        call = lay.call
        gathered = list(_gathered_last_steps(flow, lay, unpack))
        for op in [*(op for op in _last_steps(flow, lay) if op.id > unpack.id), *gathered]:
            how = "the step at index lengths - 1, the last valid one," if op in gathered else "the last step"
            message = (
                f"{op_text(op)} {at_line(op)} takes {how} of {call_label(call, 'bidirectional')} output "
                f"{format_shape(lay.input)} (through {unpack.name}): its backward half (features "
                f"{call.config.get('hidden_size')}:) has seen only that one step"
            )
            hint = (
                "use torch.cat([h_n[-2], h_n[-1]], dim=-1) (the final forward and backward states), or the "
                f"forward half alone: features :{call.config.get('hidden_size')} of that step"
            )
            yield finding("ST006", op, message, hint)
