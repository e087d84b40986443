"""ST001 batch-first-mismatch: an RNN steps through the batch.

PyTorch runs an RNN on batch-major data with ``batch_first=False`` without a
word: batch and time are just swapped. Sizes alone cannot tell (a correct
seq-first model looks the same), so this check weighs clues from the trace:

- positional (from dimension lineage, so equal sizes do not matter): the
  input axis that survives as dim 0 of the model's output is the batch; the
  axis the code takes the last step of, or pools over, is time;
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
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root
from shapetrace.analyze.checks._losses import (
    is_class_loss,
    is_elementwise_loss,
    loss_operands,
    passes_before,
    prediction_lineage,
)
from shapetrace.analyze.checks._positions import positional_tables
from shapetrace.analyze.checks._rnn import Layout, first_layouts, hidden_inputs, is_rnn, layout, ops_after
from shapetrace.analyze.checks._shift import AxisKey, Shift, axis_key, shifted_axes
from shapetrace.analyze.checks._state_origin import state_origin
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage, analyze
from shapetrace.analyze.lineage.op_args import integer_indices, reduced_axes
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape, tensor_name
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class Clue:
    """One piece of evidence on the data's layout; ``swapped`` when it says
    batch and time are the other way round from what the RNN assumes."""

    swapped: bool | None  # None: sizes collide, it cannot tell
    text: str
    weak: bool = False  # an h_0 the caller built: it follows the caller's belief on the layout
    # A correct model may show it too (a mean cross-entropy is the same whichever axis is
    # its N): alone, it makes no finding; it adds to other evidence. Its kind
    # ("loss", "passes"): soft clues of two kinds agreeing make a warning.
    soft: str = ""
    # How the user's code reads the layer's output (or built its inputs), not what the
    # data is: where batch and time are the same size, it cannot tell a wrong flag from
    # wrong code.
    reading: bool = False
    op: Call | None = None  # the op the clue is about (an index), when there is one
    passes: bool = False  # from the sizes of several passes


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


def _by_size(what: str, rows: int, lay: Layout) -> Clue | None:
    """A size that should equal the batch size."""
    if lay.batch_size == lay.steps:
        return Clue(None, f"{what} fits both, since batch and time are both {rows}")
    if rows == lay.steps:
        return Clue(True, f"{what} is made for a batch of {rows}, the length of its dim {lay.time_dim}")
    return Clue(False, what) if rows == lay.batch_size else None


def _size_clues(flow: TraceLineage, lay: Layout, losses: list[Call]) -> Iterator[Clue]:
    hidden = hidden_inputs(lay.call) if is_rnn(lay.call) else []
    if hidden and hidden[0].ndim == 3:
        name = tensor_name(lay.call, hidden[0], output=False)
        clue = _by_size(f"{name} {format_shape(hidden[0])}", hidden[0].shape[1], lay)
        # A state the caller built to fit the RNN's layout says nothing on whether that layout is right.
        if clue is not None and clue.swapped is not False:
            yield dataclasses.replace(clue, weak=True)
    for loss in losses:
        operands = loss_operands(loss) if loss.id > lay.call.id else None
        if operands is None or not operands[0].shape or not operands[1].shape:
            continue
        prediction = flow.input_lineage(loss, loss.inputs.index(operands[0]))
        row_origins = origins(prediction[0])
        if row_origins not in (origins(lay.batch), origins(lay.time)):
            continue
        rows = operands[1].shape[0]
        clue = _by_size(f"the loss target {format_shape(operands[1])} {at_line(loss)}", rows, lay)
        # Predictions with a row per time step only tell something when the
        # target has as many rows: then time was the batch all along.
        per_step = row_origins == origins(lay.time)
        if clue is not None and not (per_step and clue.swapped is False):
            yield clue


def _class_losses(flow: TraceLineage, lay: Layout, losses: list[tuple[Call, Call | None]]) -> Iterator[Clue]:
    """A cross-entropy/NLL loss after the pass takes its dim 0 as the batch (N):
    by lineage, that dim is one RNN axis, the batch or the time it steps through."""
    root = pass_root(lay.call)
    for loss, after in losses:
        prediction = loss.input_at("0") or loss.input_at("input")
        if prediction is None or prediction.ndim < 2 or not (after is root or pass_root(loss) is root):
            continue
        lineage = prediction_lineage(flow, loss, loss.inputs.index(prediction), root)
        if lineage is None:
            continue
        rows = origins(lineage[0])  # rows that merge batch and time (N*T) are neither: no evidence
        label = f"{op_text(loss) if loss.kind == 'op' else loss.name or loss.type} {at_line(loss)}"
        target = loss.input_at("1") or loss.input_at("target")
        if rows == origins(lay.time) and target is not None and target.shape[:1] == (lay.batch_size,) != (lay.steps,):
            # The target has a row per sample of the layer's batch while the
            # predictions have one per step: the code that dropped the batch axis
            # (an index, ST013) is wrong, not the flag; PyTorch raises on the sizes.
            yield Clue(False, f"the target of {label} has one row per sample of its batch ({lay.batch_size})")
        elif rows == origins(lay.time):
            yield Clue(
                True,
                f"{label} takes dim 0 of its input {format_shape(prediction)} as the batch (N), and that "
                f"dim is the axis the {lay.call.type} {lay.verb}",
                soft="loss",
                reading=True,
            )
        elif rows == origins(lay.batch):
            yield Clue(False, f"{label} takes the {lay.call.type}'s batch axis as its batch (N)", reading=True)


def _loader_batch(trace: Trace, flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """Dim 0 of a model input is a DataLoader's batch axis (its size is the loader's
    batch size or short last batch, and the loader's default collate stacks there):
    by lineage, which RNN axis is it?"""
    loaders = [
        info
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and info.get("batch_size") and info.get("default_collate", True)
    ]
    root = pass_root(lay.call)
    if not loaders or root is lay.call:
        return
    for index, meta in enumerate(root.inputs):
        if not meta.shape:
            continue
        size, dim0 = meta.shape[0], flow.input_lineage(root, index)[0]
        loader = next((info for info in loaders if size in (info["batch_size"], info.get("last_batch"))), None)
        if loader is None or dim0 not in (lay.time, lay.batch):
            continue
        where = f" at {loader['location'].rpartition('/')[2]}" if loader.get("location") else ""
        what = f"dim 0 of the model input {format_shape(meta)}"
        batches = f"the DataLoader{where} (batch_size={loader['batch_size']})"
        if lay.batch_size == lay.steps:
            yield Clue(None, f"{what} is the batch of {batches}, and batch and time are both {size}")
        elif dim0 == lay.time:
            yield Clue(True, f"{what} is the batch of {batches}, and it is the axis the {lay.call.type} {lay.verb}")
        else:
            yield Clue(False, f"{what} is the batch of {batches}")
        return


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


def _model_input_batch(flow: TraceLineage, lay: Layout) -> Clue | None:
    """The RNN batches over dim 0 of the model's input, where a DataLoader stacks
    the samples: against this, an h_0 that does not fit is the state's mistake
    (ST007), not the layout's; advising the opposite layout would undo a fix."""
    root = pass_root(lay.call)
    if root is lay.call or root.kind != "module" or not root.inputs or not root.inputs[0].shape:
        return None
    if flow.input_lineage(root, 0)[0] == lay.batch:
        return Clue(
            False,
            f"its batch axis is dim 0 of the model input {format_shape(root.inputs[0])}, "
            f"where a DataLoader stacks the samples",
        )
    return None


def _collide(group: list[Layout]) -> bool:
    """Batch and time have the same size in every pass of the layer: no size can tell them apart."""
    return all(one.batch_size == one.steps for one in group)


def undecided_reading(clues: list[Clue], collide: bool) -> bool:
    """Only the code reading the layer's output disagrees with its layout, and batch
    and time are the same size in every pass: the flag or that code may be wrong."""
    return collide and any(clue.swapped for clue in clues) and all(clue.reading for clue in clues if clue.swapped)


def _judge(flow: TraceLineage, lay: Layout, clues: list[Clue], collide: bool = False) -> Finding | None:
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
    hint = f"trace a batch whose size differs from the sequence length, e.g. x[:{size - 1}] of a batch-first x"
    if undecided_reading(clues, collide):
        # The code reads the layer's output the other way; with batch and time both
        # `size`, either the flag or that code is wrong, and nothing in the trace says which.
        message = (
            f"{head}, but the code reads it the other way: " + "; ".join(swapped) + f". Batch and time are "
            f"both {size}, so the sizes cannot tell whether the data is batch-first (then the flag is "
            f"wrong) or the code reading it is (an index on the wrong axis: see ST013)"
        )
        return finding(
            "ST001", lay.call, message, f"{batch_first_help(flow, lay)} if the data is batch-first; {hint}", "info"
        )
    data_agrees = any(not clue.reading for clue in clues if clue.swapped is False)
    if swapped and data_agrees and all(clue.reading for clue in clues if clue.swapped):
        return None  # the data agrees with the flag; only the code reading the output does not (ST013)
    if swapped:
        message = f"{head}, but " + "; ".join(swapped)
        if agreeing:
            message += f" (while {'; '.join(agreeing)})"
        return finding(
            "ST001", lay.call, message, batch_first_help(flow, lay), "warning" if agreeing or only_soft else None
        )
    if undecided:
        message = f"{head}; the sizes cannot tell whether the data agrees: {undecided[0]}"
        return finding("ST001", lay.call, message, hint, "info")
    return None


def layout_clues(trace: Trace, colliding_only: bool = False) -> Iterator[tuple[Layout, list[Clue], bool]]:
    """Each RNN and outermost attention layer's first call per pass, with the clues
    on its layout and whether batch and time collide in size in every pass
    (``colliding_only``: only the layers where they do, the others' clues unread)."""
    flow = analyze(trace.calls)
    losses = [call for call in trace.calls if is_elementwise_loss(call)]
    class_losses = passes_before(trace.calls, [call for call in trace.calls if is_class_loss(call)])
    layouts = [*first_layouts(flow, trace.calls), *first_attention_layouts(flow, trace.calls)]
    shifts = shifted_axes(flow, trace.calls) if layouts else {}
    rnn_calls = tuple(call for call in trace.calls if is_rnn(call))
    groups: dict[str, list[Layout]] = {}
    for lay in layouts:
        groups.setdefault(lay.call.name, []).append(lay)
    for lay in layouts:
        if colliding_only and not _collide(groups[lay.call.name]):
            continue
        clues = [
            *_survival(flow, lay),
            *_time_reductions(flow, lay),
            *_size_clues(flow, lay, losses),
            *_class_losses(flow, lay, class_losses),
            *_loader_batch(trace, flow, lay),
            *_shifted(lay, shifts),
            *_state_handed_on(flow, lay, rnn_calls),
            # A window cut along the axis the RNN steps through is short at the end of the
            # data (word_language_model's get_batch): the passes' shrinking axis is time then.
            *(_across_passes(lay, groups[lay.call.name]) if not _shifted_in_time(lay, shifts) else ()),
            # a mask is built from the data by the code feeding the layer: what the data is
            *(Clue(swapped, text) for swapped, text in mask_readings(flow, lay)),
            *_positions_along_time(flow, lay),
        ]
        if is_attention(lay.call) and any(clue.reading and clue.swapped is False for clue in clues):
            # A seq-first language model cut into chunks of bptt steps (the PyTorch
            # tutorial) has a short last chunk on its time axis, as batch-first data
            # has a short last batch there: the code's own reading decides.
            clues = [clue for clue in clues if not clue.passes]
        yield lay, clues, _collide(groups[lay.call.name])


@register(
    "ST001",
    "batch-first-mismatch",
    "error",
    "an RNN/LSTM/GRU or attention/transformer layer reads the batch axis as time (batch_first does not match the data)",
)
def check_batch_first(trace: Trace) -> Iterator[Finding]:
    flow = analyze(trace.calls)
    for lay, clues, collide in layout_clues(trace):
        if clues and all(clue.weak for clue in clues if clue.swapped):
            from_loader = _model_input_batch(flow, lay)
            if from_loader is not None and any(clue.swapped for clue in clues):
                continue  # only the state disagrees, and the data agrees: ST007 is the cause
        found = _judge(flow, lay, clues, collide)
        if found is not None:
            yield found
