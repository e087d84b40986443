"""ST001 batch-first-mismatch: an RNN steps through the batch.

PyTorch runs an RNN on batch-major data with ``batch_first=False`` without a
word: batch and time are just swapped. Sizes alone cannot tell (a correct
seq-first model looks the same), so this check weighs clues from the trace:

- positional (from dimension lineage, so equal sizes do not matter): the
  input axis that survives as dim 0 of the model's output is the batch; the
  axis the code takes the last step of, or pools over, is time;
- kernels: a convolution or pool before it slides along a sequence or spatial
  axis, never the batch (``_kernel_axes.py``);
- sizes: an ``h_0`` is (layers, batch, hidden) (only when it does not fit: a
  state built to fit the RNN's layout proves nothing); a loss target has one row
  per sample;
- a loss over class scores (cross-entropy, NLL; ``(N, C)`` or ``(N, C, T)``)
  takes its dim 0 as the minibatch: by lineage, that dim is one of the RNN's
  axes. Where ``shapetrace run`` recorded no op between the model and the loss,
  a permuted view of the model's output (``logits.transpose(1, 2)``) is known by
  its strides. Rows that merge both axes (``output.view(-1, vocab)``) tell
  nothing: a seq-first language model merges them the same way;
- passes: the axis the RNN recurs over is the same size in every pass but a
  shorter last one, while its batch axis stays: a short last batch, or the short
  last window of truncated backpropagation through time (word_language_model's
  ``get_batch``), so it only adds to other evidence;
- the input/target shift: a next-step model is fed ``seq[:, :-1]`` against
  ``seq[:, 1:]`` (or ``data[i:i+T]`` against ``data[i+1:i+1+T]``), two windows one
  step apart along the time axis (``_shift.py``: from the recorded slicing, or a
  model input's strides under ``shapetrace run``); by lineage, that axis is one of
  the RNN's, the one it steps through or its batch;
- the DataLoader: its default collate stacks the samples along a new dim 0, so
  a model input whose dim 0 has the loader's batch size (or its short last
  batch) holds the samples there; by lineage, that dim is one RNN axis
  (``run_info["loaders"]``, listed by ``shapetrace.trace`` and ``shapetrace run``).

When batch and time have the same size the sizes cannot decide, and the
finding says so rather than guess. A loss over class scores alone decides
nothing: its mean is the same whichever axis is its N, and a correct seq-first
model may hand it ``(T, C, B)``, which by lineage is exactly the buggy model's
``(B, C, T)`` (the two programs differ only in what the data is); it only adds to
other evidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._attention import first_attention_layouts, is_attention, mask_readings
from shapetrace.analyze.checks._batch_first_help import batch_first_help
from shapetrace.analyze.checks._cell_loop import cell_loop_findings
from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root
from shapetrace.analyze.checks._kernel_axes import kernel_clues
from shapetrace.analyze.checks._layout_pairs import handed_on, memory_pairs, target_clues
from shapetrace.analyze.checks._losses import is_class_loss, is_elementwise_loss, passes_before
from shapetrace.analyze.checks._pack_layout import packed_layout_findings
from shapetrace.analyze.checks._positions import positional_tables
from shapetrace.analyze.checks._rnn import Layout, first_layouts, hidden_inputs, is_rnn, layout, ops_after
from shapetrace.analyze.checks._shift import AxisKey, Shift, axis_key, shifted_axes
from shapetrace.analyze.checks._size_clues import (
    class_losses,
    collated_batch,
    loader_batch,
    model_input_batch,
    size_clues,
)
from shapetrace.analyze.checks._state_origin import state_origin
from shapetrace.analyze.checks._windows import stacked_windows
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import integer_indices, reduced_axes
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


def _survival(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    root = pass_root(lay.call)
    if root is lay.call or not root.outputs or not root.outputs[0].shape:
        return
    out = flow.output_lineage(root, 0)
    batch, time = lay.where(out)
    shape = format_shape(root.outputs[0])
    if time == 0 and batch is None:
        yield Clue(True, f"its dim {lay.time_dim} ends up as dim 0 of the model output {shape}", reading=True)
    elif batch == 0 and time is None:
        yield Clue(False, f"its dim {lay.batch_dim} ends up as dim 0 of the model output {shape}", reading=True)


def _time_reductions(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """The code taking the last step of, or pooling over, one of the two axes."""
    for op, lineage in ops_after(flow, lay):
        batch, time = lay.where(lineage)
        if batch is None or time is None:
            continue
        shape = op.inputs[0].shape
        indices = integer_indices(op, len(shape)).items()
        last = {dim for dim, index in indices if index in (-1, shape[dim] - 1)}
        # a transformer's first position (a [CLS] token) is read like an RNN's last step
        first = {dim for dim, index in indices if index == 0} if is_attention(lay.call) else set()
        pooled = set(reduced_axes(op, len(shape)) or ())
        for dim in (last | first | pooled) & {batch, time}:
            verb = (
                "takes the last step of"
                if dim in last
                else "takes the first position of"
                if dim in first
                else "pools over"
            )
            axis = "the batch axis" if dim == batch else "the time axis"
            yield Clue(dim == batch, f"{op_text(op)} {at_line(op)} {verb} {axis}", reading=True, op=op)


def _shifted(lay: Layout, shifts: dict[AxisKey, Shift]) -> Iterator[Clue]:
    """Input and target windows cut one step apart along one of the RNN's axes: that axis is time."""
    if len(lay.batch) != 1 or len(lay.time) != 1:
        return
    batch, time = shifts.get(axis_key(lay.batch[0])), shifts.get(axis_key(lay.time[0]))
    if batch is not None:
        yield Clue(True, f"{batch.text} the axis it takes as the batch: that axis is time")
    elif time is not None:
        yield Clue(False, f"{time.text} the axis the {lay.call.type} {lay.verb}")


def _shifted_in_time(lay: Layout, shifts: dict[AxisKey, Shift]) -> bool:
    return len(lay.time) == 1 and axis_key(lay.time[0]) in shifts


def _state_handed_on(flow: TraceLineage, lay: Layout, calls: tuple[Call, ...]) -> Iterator[Clue]:
    """The RNN's h_n is another RNN's initial state (an encoder's, a decoder's): its batch
    must be the other's batch. When the other's batch is the length of the axis this one
    steps through, and not that of its batch, this one has batch and time swapped (the
    other, flipped instead, would not fit either)."""
    root = pass_root(lay.call)
    for call in calls if is_rnn(lay.call) else ():
        if call.id <= lay.call.id or pass_root(call) is not root or call is lay.call:
            continue
        other = layout(flow, call)
        states = [k for k, meta in enumerate(call.inputs) if meta in hidden_inputs(call)] if other else []
        for index in states:
            made = state_origin(flow, call, index)
            if made is None or made.call is not lay.call or other is None:
                continue
            batch = other.batch_size
            if batch == lay.steps and batch != lay.batch_size:
                yield Clue(
                    True,
                    f"its state goes on to {call_label(call, 'batch_first')} {at_line(call)} as the initial "
                    f"state, whose batch is {batch}: the length of the axis this one steps through",
                )
            return


def _across_passes(lay: Layout, group: list[Layout]) -> Iterator[Clue]:
    """The axis the RNN recurs over shrinks in the last pass while its batch axis
    stays: that is how a batch behaves at the end of an epoch (32, 32, then 27)."""
    steps = [one.steps for one in group]
    batches = {one.batch_size for one in group}
    if len(group) < 2 or len(batches) != 1 or lay is not group[0]:
        return
    if len(set(steps[:-1])) == 1 and steps[-1] < steps[0]:
        yield Clue(
            True,
            f"its dim {lay.time_dim} is {steps[0]} in every pass but the last, which has "
            f"{steps[-1]}, as a batch size does at the end of an epoch, while dim {lay.batch_dim} "
            f"stays {lay.batch_size}",
            soft="passes",  # truncated BPTT's last window is short on the time axis the same way
            passes=True,
        )


def _positions_along_time(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """A positional table added along the axis an attention layer attends over: the
    code that built the input reads the layout as the layer does. (Along the layer's
    batch, the table is wrong whatever the flag: ST017.)"""
    if not is_attention(lay.call):
        return
    for table in positional_tables(flow, lay):
        if table.on_time:
            yield Clue(
                False,
                f"{op_text(table.op)} {at_line(table.op)} adds a positional table along dim {table.along}, "
                f"the axis it attends over",
                reading=True,
            )


def _collide(group: list[Layout]) -> bool:
    """Batch and time have the same size in every pass of the layer: no size can tell them apart."""
    return all(one.batch_size == one.steps for one in group)


def undecided_reading(clues: list[Clue], collide: bool) -> bool:
    """Only the code reading the layer's output disagrees with its layout, batch and
    time are the same size in every pass, and nothing says what the data is (a
    DataLoader's batch): the flag or that code may be wrong."""
    return (
        collide
        and any(clue.swapped for clue in clues)
        and all(clue.reading for clue in clues if clue.swapped)
        and not data_agrees(clues)
    )


def data_agrees(clues: list[Clue]) -> bool:
    """Evidence on what the data is, not on how code reads it, agrees with the flag."""
    return any(not clue.reading for clue in clues if clue.swapped is False)


def judge(flow: TraceLineage, lay: Layout, clues: list[Clue], collide: bool = False) -> Finding | None:
    """ST001's verdict on one layer's layout from its clues: a finding with the
    layer's flag judged wrong (severity warning or error), an ``info`` one when the
    sizes cannot decide, or None when nothing says the flag is wrong."""
    swapped = [clue.text for clue in clues if clue.swapped]
    # Soft clues (a loss's N, a short last pass) each fit some correct code: one alone
    # is no evidence; two of them agreeing make a warning.
    only_soft = all(clue.soft for clue in clues if clue.swapped)
    if only_soft and len({clue.soft for clue in clues if clue.swapped}) < 2:
        swapped = []
    agreeing = [clue.text for clue in clues if clue.swapped is False]
    undecided = [clue.text for clue in clues if clue.swapped is None]
    head = (
        f"{call_label(lay.call, 'batch_first')} {at_line(lay.call)} {lay.verb} dim {lay.time_dim} of "
        f"its input {format_shape(lay.input)} and takes dim {lay.batch_dim} as the batch"
    )
    size = lay.batch_size
    # the layout under which the layer's flag is wrong: the other one
    other = "seq-first" if lay.call.config.get("batch_first") else "batch-first"
    hint = f"trace a batch whose size differs from the sequence length, e.g. x[:{size - 1}] of a batch-first x"
    if undecided_reading(clues, collide):
        # The code reads the layer's output the other way; with batch and time both
        # `size`, either the flag or that code is wrong, and nothing in the trace says which.
        message = (
            f"{head}, but the code reads it the other way: " + "; ".join(swapped) + f". Batch and time are "
            f"both {size}, so the sizes cannot tell whether the data is {other} (then the flag is "
            f"wrong) or the code reading it is (an index or a pooling on the wrong axis: see ST013, ST019)"
        )
        return finding(
            "ST001", lay.call, message, f"{batch_first_help(flow, lay)} if the data is {other}; {hint}", "info"
        )
    agrees = data_agrees(clues)
    if swapped and agrees and all(clue.reading for clue in clues if clue.swapped):
        return None  # the data agrees with the flag; only the code reading the output does not (ST013)
    if swapped:
        message = f"{head}, but " + "; ".join(swapped)
        if agreeing:
            message += f" (while {'; '.join(agreeing)})"
        # What the data is outweighs how the code reads it: code written for the wrong
        # layout reads the output the wrong way too.
        data_swapped = any(clue.swapped and not (clue.reading or clue.soft or clue.weak) for clue in clues)
        doubt = (agreeing and (agrees or not data_swapped)) or only_soft
        return finding("ST001", lay.call, message, batch_first_help(flow, lay), "warning" if doubt else None)
    if undecided and not agrees:  # what the data is decides it: the sizes need not
        message = f"{head}; the sizes cannot tell whether the data agrees: {undecided[0]}"
        return finding("ST001", lay.call, message, hint, "info")
    return None


@dataclasses.dataclass(frozen=True)
class _Evidence:
    """What every layer's clues are read from, gathered once per trace."""

    trace: Trace
    flow: TraceLineage
    losses: list[Call]
    class_losses: list[tuple[Call, Call | None]]
    shifts: dict[AxisKey, Shift]
    rnn_calls: tuple[Call, ...]
    groups: dict[str, list[Layout]]


def _clues(ev: _Evidence, lay: Layout, whole: bool = True) -> list[Clue]:
    """The clues on ``lay``; ``whole``: also those of the layer as a whole (its masks, its
    passes), not only of the input ``lay`` is about (an nn.Transformer's tgt)."""
    flow = ev.flow
    group = ev.groups.get(lay.call.name, [lay])
    clues = [
        *_survival(flow, lay),
        *_time_reductions(flow, lay),
        *size_clues(flow, lay, ev.losses),
        *kernel_clues(flow, lay),
        *class_losses(flow, lay, ev.class_losses),
        *loader_batch(ev.trace, flow, lay),
        *collated_batch(ev.trace, flow, lay),
        *stacked_windows(ev.trace, flow, lay),
        *_shifted(lay, ev.shifts),
        *_state_handed_on(flow, lay, ev.rnn_calls),
        # A window cut along the axis the RNN steps through is short at the end of the
        # data (word_language_model's get_batch): the passes' shrinking axis is time then.
        *(_across_passes(lay, group) if whole and not _shifted_in_time(lay, ev.shifts) else ()),
        # a mask is built from the data by the code feeding the layer: what the data is
        *(Clue(swapped, text) for swapped, text in (mask_readings(flow, lay) if whole else ())),
        *_positions_along_time(flow, lay),
        *(target_clues(flow, lay, lambda target: _clues(ev, target, whole=False)) if whole else ()),
    ]
    if is_attention(lay.call) and any(clue.reading and clue.swapped is False for clue in clues):
        # A seq-first language model cut into chunks of bptt steps (the PyTorch
        # tutorial) has a short last chunk on its time axis, as batch-first data
        # has a short last batch there: the code's own reading decides.
        clues = [clue for clue in clues if not clue.passes]
    return clues


def layout_clues(trace: Trace, colliding_only: bool = False) -> Iterator[tuple[Layout, list[Clue], bool]]:
    """Each RNN and outermost attention layer's first call per pass, with the clues
    on its layout and whether batch and time collide in size in every pass
    (``colliding_only``: only the layers where they do, the others' clues unread).
    An encoder and the decoder reading its output as memory share their clues
    (``_layout_pairs.py``)."""
    flow = trace_lineage(trace)
    layouts = [*first_layouts(flow, trace.calls), *first_attention_layouts(flow, trace.calls)]
    groups: dict[str, list[Layout]] = {}
    for lay in layouts:
        groups.setdefault(lay.call.name, []).append(lay)
    ev = _Evidence(
        trace,
        flow,
        [call for call in trace.calls if is_elementwise_loss(call)],
        passes_before(trace.calls, [call for call in trace.calls if is_class_loss(call)]),
        shifted_axes(flow, trace.calls) if layouts else {},
        tuple(call for call in trace.calls if is_rnn(call)),
        groups,
    )
    wanted = [not colliding_only or _collide(groups[lay.call.name]) for lay in layouts]
    own: dict[int, list[Clue]] = {}
    pairs = list(memory_pairs(flow, layouts)) if any(is_attention(lay.call) for lay in layouts) else []

    def clues_of(index: int) -> list[Clue]:
        if index not in own:
            own[index] = _clues(ev, layouts[index])
        return own[index]

    for index, lay in enumerate(layouts):
        if not wanted[index]:
            continue
        clues = list(clues_of(index))
        for encoder, decoder in pairs:
            if index == encoder:
                clues += handed_on(clues_of(decoder), layouts[decoder], reader=True)
            elif index == decoder:
                clues += handed_on(clues_of(encoder), layouts[encoder], reader=False)
        yield lay, clues, _collide(groups[lay.call.name])


@register(
    "ST001",
    "batch-first-mismatch",
    "error",
    "an RNN/LSTM/GRU or attention/transformer layer reads the batch axis as time (batch_first does not match the data)",
)
def check_batch_first(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    for lay, clues, collide in layout_clues(trace):
        if clues and all(clue.weak for clue in clues if clue.swapped):
            from_loader = model_input_batch(flow, lay)
            if from_loader is not None and any(clue.swapped for clue in clues):
                continue  # only the state disagrees, and the data agrees: ST007 is the cause
        found = judge(flow, lay, clues, collide)
        if found is not None:
            yield found
    yield from cell_loop_findings(trace, flow)
    yield from packed_layout_findings(trace, flow)
