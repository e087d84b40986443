"""Which axis is time: the one a sequence is cut along into input and target.

A model that predicts the next step is fed ``seq[:, :-1]`` and trained against
``seq[:, 1:]`` (or, in pytorch/examples' word_language_model, ``data[i:i+T]``
against ``data[i+1:i+1+T]``): two windows of one tensor, of one length, one step
apart along one axis. That axis is the sequence, whatever its position, and by
lineage its atoms can be followed into the model (through an embedding, into an
RNN or an attention layer), where the layer either steps through it or takes it
as the batch. Correct code shows the same shift, on the axis the layer steps
through, so the evidence points both ways.

Two sources:

- the slicing ops, where they were recorded (``shapetrace.trace(model)`` records
  the ops inside its ``with`` block, outside the model too): ``x[a:b]`` on one dim,
  ``narrow``, on one tensor (by lineage, so two reads of a tensor made before the
  trace began count as one tensor);
- the strides of a model input, where its slicing was not recorded (``shapetrace
  run`` records no op outside the model): ``(B, T)`` with strides ``(T + 1, 1)`` is
  a window one step shorter than the rows it was cut from, as ``seq[:, :-1]`` or
  ``seq[:, 1:]`` of a ``(B, T + 1)`` tensor. A cut along dim 0 keeps a tensor
  contiguous, so strides tell nothing there (the ops do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from shapetrace.analyze.checks._common import at_line, op_text
from shapetrace.analyze.lineage.atoms import Atom, Lineage
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import argument, axis_of, index_items
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_dims, format_shape

Cut = tuple[int, int]  # [start, stop) along one dim
AxisKey = tuple[str, int]


def axis_key(atom: Atom) -> AxisKey:
    """An axis as lineage knows it, whatever its length (slicing resizes an atom)."""
    return atom.origin, atom.stride


@dataclasses.dataclass(frozen=True)
class Shift:
    """An axis a sequence was cut along into input and target windows.

    ``axis`` is the axis's atom (origin and stride: pieces of one axis that a view split,
    ``data.view(B, -1).t()``, are two axes); ``text`` says how it is known,
    to be finished by the axis (``seq[:, :-1] and seq[:, 1:] at line 12 cut input and
    target one step apart along``); ``call`` made the cut, or is the model call fed with it."""

    axis: AxisKey
    text: str
    call: Call


def _bounds(value: object, size: int) -> Cut | None:
    """A ``{"slice": (start, stop, step)}`` index as ``[start, stop)`` on a dim of ``size``."""
    if not isinstance(value, dict) or "slice" not in value:
        return None
    start, stop, step = value["slice"]
    if step not in (None, 1) or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (start, stop)
    ):
        return None
    found = slice(start, stop).indices(size)
    return found[0], max(found[0], found[1])


def _cuts(op: Call) -> tuple[Cut, ...] | None:
    """``[start, stop)`` on every dim of the op's input, for a plain slicing op."""
    if not op.inputs or not op.outputs or not op.inputs[0].shape:
        return None
    shape = op.inputs[0].shape
    whole = [(0, size) for size in shape]
    if op.name == "narrow":
        dim = axis_of(argument(op, 0, "dim"), len(shape))
        start, length = argument(op, 1, "start"), argument(op, 2, "length")
        if dim is None or not isinstance(start, int) or not isinstance(length, int):
            return None
        start += shape[dim] if start < 0 else 0
        whole[dim] = (start, start + length)
        return tuple(whole)
    items = index_items(op) if op.name == "__getitem__" else None
    if not items or len(items) > len(shape):
        return None
    if items[0] == {"ellipsis": True}:  # x[..., :-1]
        items = [{"slice": (None, None, None)}] * (len(shape) - len(items) + 1) + items[1:]
    for dim, item in enumerate(items):
        cut = _bounds(item, shape[dim])
        if cut is None:
            return None
        whole[dim] = cut
    return tuple(whole)


def _from_ops(flow: TraceLineage, calls: Sequence[Call]) -> Iterator[Shift]:
    """Pairs of windows of one tensor, one step apart along one dim, alike elsewhere."""
    starts: dict[tuple, dict[int, Call]] = {}
    for op in calls:
        if op.kind != "op" or op.name not in ("__getitem__", "narrow"):
            continue
        cuts = _cuts(op)
        if cuts is None:
            continue
        lineage = flow.input_lineage(op, 0)
        for dim, (start, stop) in enumerate(cuts):
            if 2 <= stop - start < op.inputs[0].shape[dim] and len(lineage[dim]) == 1:
                key = (lineage, dim, stop - start, cuts[:dim] + cuts[dim + 1 :])
                starts.setdefault(key, {}).setdefault(start, op)
    seen: set[AxisKey] = set()
    for (lineage, dim, _, _), ops in starts.items():
        axis = axis_key(lineage[dim][0])
        for start, first in ops.items():
            second = ops.get(start + 1)
            if second is not None and axis not in seen:
                seen.add(axis)
                later = second if second.id > first.id else first
                yield Shift(
                    axis,
                    f"{op_text(first)} and {op_text(second)} {at_line(later)} cut input and target "
                    "one step apart along",
                    later,
                )


def window_dim(meta: TensorMeta) -> int | None:
    """The dim of a strided view cut one element shorter than the axis it was cut
    from, told by strides: ``(B, T)`` with strides ``(T + 1, 1)``; None unless exactly
    one dim is so and the rest lie as a contiguous tensor's would."""
    shape, stride = meta.shape, meta.stride
    if len(shape) < 2 or len(stride) != len(shape) or meta.contiguous or stride[-1] != 1 or 1 in shape:
        return None
    found = [d for d in range(1, len(shape)) if stride[d - 1] == stride[d] * (shape[d] + 1)]
    rest_contiguous = all(stride[d - 1] == stride[d] * shape[d] for d in range(1, len(shape)) if d not in found)
    return found[0] if len(found) == 1 and rest_contiguous else None


def _from_strides(flow: TraceLineage, calls: Sequence[Call]) -> Iterator[Shift]:
    """Model inputs that are windows cut one step short, where no op recorded the cut."""
    for root in calls:
        if root.parent is not None or root.kind != "module":
            continue
        for index, meta in enumerate(root.inputs):
            dim = window_dim(meta)
            if dim is None or flow.source(root, index) is not None:
                continue
            lineage: Lineage = flow.input_lineage(root, index)
            if len(lineage[dim]) != 1:
                continue
            longer = list(meta.shape)
            longer[dim] += 1
            cut = ", ".join([":"] * dim + [":-1"])
            yield Shift(
                axis_key(lineage[dim][0]),
                f"the model input {format_shape(meta)} {at_line(root)} (strides {format_dims(meta.stride)}) "
                f"is a window one step shorter than the {format_dims(tuple(longer))} tensor it was cut from, "
                f"as x[{cut}] is: a sequence cut into input and target along",
                root,
            )


def shifted_axes(flow: TraceLineage, calls: Sequence[Call]) -> dict[AxisKey, Shift]:
    """The axes (by ``axis_key``) some input/target windows were cut along, each
    with how it is known: recorded slicing ops first, then a model input's strides."""
    found: dict[AxisKey, Shift] = {}
    for shift in (*_from_ops(flow, calls), *_from_strides(flow, calls)):
        found.setdefault(shift.axis, shift)
    # a window cut outside the model is a pass's given axis inside it (flow.outside_axis)
    for stand_in, outside in flow.given_axes():
        if axis_key(outside) in found:
            found.setdefault(axis_key(stand_in), found[axis_key(outside)])
    return found


__all__ = ["AxisKey", "Shift", "axis_key", "shifted_axes", "window_dim"]
