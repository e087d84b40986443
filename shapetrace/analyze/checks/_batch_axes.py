"""Which axes of a trace are the batch, by where they were born.

ST019 needs to know that a softmax's or a reduction's dim is the batch before it
can say that the dim mixes samples. Sizes cannot tell (a batch of 8 and 8 classes
look alike), so each piece of evidence names an axis by its lineage atom:

- an RNN's or attention layer's batch axis, by its ``batch_first``, unless ST001
  judges the flag wrong (then that axis is time);
- dim 0 of a model input whose size is a DataLoader's batch size, where the
  loader's default collate stacks the samples there (a ``collate_fn`` such as
  ``pad_sequence`` may put them elsewhere);

- dim 0 of a cross-entropy/NLL loss's input when its target has as many rows: the
  loss takes it as the minibatch N. Last, because code that dropped the real
  batch (``out.mean(0)``) hands the loss another axis as N: an axis a layer
  steps through is never taken for the batch this way.

A convolution's N is not taken for a batch by itself: multiple-instance learning
feeds one bag's instances there (a loader's batch of one bag, squeezed away), and
a softmax or pooling over them is the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._losses import is_class_loss, loss_operands
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.checks.batch_first import judge, layout_clues
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


@dataclasses.dataclass(frozen=True)
class BatchAxis:
    """One axis known to be the batch.

    Attributes:
        origin: its lineage atom's origin.
        why: what says so, as the end of a sentence ("the batch axis of lstm (LSTM,
            batch_first=True)").
        layout: the sequence layer whose flag says so; None for other evidence.
        undecided: the layer's batch and time have one size and nothing in the trace
            tells which is which: its flag may be wrong instead (ST001's ``info``).
        loader: a DataLoader stacked the samples there (dim 0 of a model input).
    """

    origin: str
    why: str
    layout: Layout | None = None
    undecided: bool = False
    loader: bool = False


def _from_layouts(trace: Trace, flow: TraceLineage, excluded: set[str]) -> Iterator[BatchAxis]:
    """The sequence layers' batch axes; ``excluded`` gets the axes they step through,
    and both axes of a layer whose flag ST001 judges wrong (it speaks for those)."""
    for lay, clues, collide in layout_clues(trace):
        verdict = judge(flow, lay, clues, collide)
        if len(lay.batch) != 1 or len(lay.time) != 1:
            continue
        excluded.add(lay.time[0].origin)
        if verdict is not None and verdict.severity != "info":
            excluded.add(lay.batch[0].origin)
            continue
        why = f"the batch axis of {call_label(lay.call, 'batch_first')}"
        yield BatchAxis(lay.batch[0].origin, why, lay, collide and not _data_decides(clues))


def _data_decides(clues: list[Clue]) -> bool:
    """A clue from the data (a target's rows, a DataLoader) agrees with the flag."""
    return any(clue.swapped is False and not clue.reading for clue in clues)


def _from_loaders(trace: Trace, flow: TraceLineage) -> Iterator[BatchAxis]:
    loaders = [
        info
        for info in trace.run_info.get("loaders", ())
        if isinstance(info, dict) and info.get("batch_size") and info.get("default_collate", True)
    ]
    sizes = {size for info in loaders for size in (info["batch_size"], info.get("last_batch")) if size}
    for root in trace.calls if sizes else ():
        if root.parent is not None:
            continue
        for index, meta in enumerate(root.inputs):
            dim0 = flow.input_lineage(root, index)[0] if meta.shape else ()
            if meta.shape and meta.shape[0] in sizes and len(dim0) == 1:
                why = f"dim 0 of the model input {format_shape(meta)}, a DataLoader's batch"
                yield BatchAxis(dim0[0].origin, why, loader=True)


def _from_class_losses(trace: Trace, flow: TraceLineage) -> Iterator[BatchAxis]:
    for loss in trace.calls:
        operands = loss_operands(loss) if is_class_loss(loss) else None
        if operands is None or operands[0].ndim < 2 or not operands[1].shape:
            continue
        prediction, target = operands
        dim0 = flow.input_lineage(loss, loss.inputs.index(prediction))[0]
        if len(dim0) == 1 and target.shape[0] == prediction.shape[0]:
            label = op_text(loss) if loss.kind == "op" else call_label(loss)
            why = f"dim 0 of the input of {label} {at_line(loss)}, which it takes as the batch (N)"
            yield BatchAxis(dim0[0].origin, why)


def batch_axes(trace: Trace, flow: TraceLineage) -> dict[str, BatchAxis]:
    """``{atom origin: BatchAxis}`` for every axis the trace says is a batch, the
    strongest evidence kept where several name one axis. An axis that a sequence
    layer steps through (its time) is never one."""
    found: dict[str, BatchAxis] = {}
    excluded: set[str] = set()
    for axis in _from_layouts(trace, flow, excluded):
        found.setdefault(axis.origin, axis)
    for source in (_from_loaders, _from_class_losses):
        for axis in source(trace, flow):
            found.setdefault(axis.origin, axis)
    return {origin: axis for origin, axis in found.items() if origin not in excluded}


__all__ = ["BatchAxis", "batch_axes"]
