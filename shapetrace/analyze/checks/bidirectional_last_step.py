"""ST006 bidirectional-last-step: the last step of a bidirectional output.

The output of a bidirectional RNN concatenates, at each step, the forward
state (all steps up to it) and the backward state (all steps from it to the
end). At the last step the backward half has seen that one step only, so
``out[:, -1, :]`` summarises the sequence in one direction only. Taking the
forward half alone (``out[:, -1, :hidden]``) is fine and not reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.checks._rnn import Layout, first_layouts, ops_after
from shapetrace.analyze.lineage.atoms import dim_of
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.module_rules import hidden_origin
from shapetrace.analyze.lineage.op_rules import integer_indices
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
        whole = [dim for dim in flow.output_lineage(op, 0)
                 if len(dim) == 1 and dim[0].origin == features and dim[0].size == width]
        if not whole:
            continue
        index = integer_indices(op, len(lineage)).get(time)
        if index in (-1, op.inputs[0].shape[time] - 1):
            yield op


def _hint(lay: Layout, op: Call) -> str:
    hidden = lay.call.config.get("hidden_size", "hidden_size")
    last = "[:, -1, " if lay.time_dim == 1 else "[-1, :, "
    return (f"use torch.cat([h_n[-2], h_n[-1]], dim=-1) (the final forward and backward states), "
            f"or the forward half alone: {receiver_text(op, 'output')}{last}:{hidden}]")


@register("ST006", "bidirectional-last-step", "warning",
          "the last time step taken from a bidirectional output (backward half has seen one step)")
def check_bidirectional_last_step(trace: Trace) -> Iterator[Finding]:
    flow = analyze(trace.calls)
    for lay in first_layouts(flow, trace.calls):
        call = lay.call
        if not call.config.get("bidirectional") or not call.outputs:
            continue
        for op in _last_steps(flow, lay):
            message = (f"{op_text(op)} {at_line(op)} takes the last step of {call_label(call, 'bidirectional')} "
                       f"output {format_shape(call.outputs[0])}: its backward half (features "
                       f"{call.config.get('hidden_size')}:) has seen only that one step")
            yield finding("ST006", op, message, _hint(lay, op))
