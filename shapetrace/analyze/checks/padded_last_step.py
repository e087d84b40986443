"""ST027 padded-last-step: the last column of a padded batch read as each sequence's last step.

An RNN run on a PackedSequence stops each sequence at its own length;
``pad_packed_sequence`` gives its output back padded to the longest, with zeros after
each sequence's end (PyTorch's documentation: "padded with padding_value", 0 by
default). ``padded[:, -1, :]`` is then the last step of the longest sequences only:
every shorter one gives a row of zeros, and the next layer sees the same vector for
all of them. The shapes are right and nothing raises. Each sequence's last step is
``padded[torch.arange(B), lengths - 1]``, or the RNN's final state ``h_n[-1]``
(the packed RNN takes it at each sequence's length).

The packed data has one row per real step (its dim 0): fewer rows than the padded
batch has places means some sequence is shorter, and padding is read; as many
means every sequence of that batch is full, and the last column is right for it;
when the lengths are a DataLoader's (one per sample, varying from batch to batch),
not for a batch with a shorter one (``shapetrace run`` records one pass per input
shape, and a first batch of full sequences stands for the ragged ones of its
shape): the finding says so.

Told by lineage: the index keeps one step of the time axis of a
``pad_packed_sequence`` output, the last (``-1`` or ``T - 1``), with any spelling
``_steps.step_index`` reads. A bidirectional RNN's last step is ST006 (its backward
half is wrong even for the longest sequence), not this.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.checks._steps import step_index, unpacked_outputs
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import PACKING_OPS, UNPACKING_OPS
from shapetrace.core.trace import Trace


def _packing(trace: Trace, rnn: Call) -> Call | None:
    """The ``pack_padded_sequence`` last run before ``rnn``: the one that packed its input."""
    packed = None
    for op in trace.calls:
        if op.id >= rnn.id:
            break
        if op.kind == "op" and op.name in PACKING_OPS:
            packed = op
    return packed


def _lengths_text(pack: Call | None) -> str:
    """The lengths ``pack`` packed the sequences with, as written (``lengths``)."""
    found = find_call(pack.location, {pack.name.lstrip("_")}, None) if pack is not None else None
    return found.args[1] if found is not None and len(found.args) >= 2 and found.args[1].isidentifier() else "lengths"


def _loader_lengths(flow: TraceLineage, trace: Trace, pack: Call | None) -> bool:
    """Whether the lengths ``pack`` packed the sequences with are a tensor a DataLoader
    yielded, passed to the model as it came (one length per sample: they vary from
    batch to batch, whatever this one holds)."""
    numbers = trace.run_info.get("fetched_tensors")
    if pack is None or len(pack.inputs) < 2 or not isinstance(numbers, list):
        return False
    source = flow.source(pack, 1)
    while source is not None and source.as_input:  # up through the modules passed the lengths
        if source.call.parent is None:  # the model's input
            ids = source.call.input_ids
            return source.index < len(ids) and ids[source.index] in numbers
        source = flow.source(source.call, source.index)
    return False


def _hint(pack: Call | None, op: Call, rnn: Call, time: int) -> str:
    """``use padded[torch.arange(padded.size(0)), lengths - 1]``: each sequence's own last step."""
    name = receiver_text(op, "padded")
    lengths = _lengths_text(pack)
    batch = 1 - time
    rows = f"torch.arange({name}.size({batch}))"
    index = f"{rows}, {lengths} - 1" if time == 1 else f"{lengths} - 1, {rows}"
    return f"use {name}[{index}]: each sequence's last step (or {rnn.name}'s final state, h_n[-1])"


@register(
    "ST027",
    "padded-last-step",
    "warning",
    "the last column of pad_packed_sequence's output read as each sequence's last step (zeros for shorter ones)",
)
def check_padded_last_step(trace: Trace) -> Iterator[Finding]:
    if not any(call.kind == "op" and call.name in UNPACKING_OPS for call in trace.calls):
        return
    flow = trace_lineage(trace)
    for unpack, rnn, batch_dim in unpacked_outputs(flow, trace):
        if rnn.config.get("bidirectional"):
            continue  # its last step is wrong even for the longest sequence: ST006
        time = origins(flow.output_lineage(unpack, 0)[1 - batch_dim])
        padded = unpack.outputs[0].shape
        steps = unpack.inputs[0].shape[0] if unpack.inputs and unpack.inputs[0].ndim else None
        if not time or steps is None:
            continue
        places, pack = padded[0] * padded[1], _packing(trace, rnn)
        if steps >= places and not _loader_lengths(flow, trace, pack):
            continue  # every sequence full, and nothing says another batch is not
        # (the packed data has a row per real step: as many as places, no padding in this batch)
        read = (
            f"({places - steps} of the {places} places are padding)"
            if steps < places
            else "(every sequence of this batch is full length, so its last column is right here, "
            "but not in a batch with a shorter one)"
        )
        for op in trace.calls:
            if op.id <= unpack.id or op.kind != "op" or not op.inputs:
                continue
            lineage = flow.input_lineage(op, 0)
            dim = next((d for d, axis in enumerate(lineage) if axis and origins(axis) == time), None)
            if dim is None:
                continue
            index = step_index(flow, op, dim, len(lineage))
            if index not in (-1, op.inputs[0].shape[dim] - 1):
                continue
            message = (
                f"{op_text(op)} {at_line(op)} takes the last step of the {format_shape(unpack.outputs[0])} "
                f"batch pad_packed_sequence {at_line(unpack)} made of {call_label(rnn)}'s packed output: for "
                f"every sequence shorter than the longest, that step is padding (zeros), not its last step "
                f"{read}"
            )
            yield finding("ST027", op, message, _hint(pack, op, rnn, dim))
