"""ST022 skip-size-mismatch: a skip connection joined to a map that lost a row going down.

An encoder-decoder (U-Net, FPN, a ResNet shortcut) joins a feature map it saved
with one that went down and came back up: ``torch.cat([self.up(b), e2], dim=1)``.
Downsampling by ``f`` rounds a size that is not a multiple of ``f``
(``MaxPool2d(2)`` takes 25 to 12; a 3 x 3 convolution of stride 2 and padding 1
takes 25 to 13, PyTorch's output-size formula, ``floor((25 + 2 - 3) / 2) + 1``),
so coming back up by ``f`` gives 24 or 26, not 25, and the join raises: "Sizes of
tensors must match except in dimension 1. Expected size 24 but got size 25" (an
add: "The size of tensor a (24) must match the size of tensor b (25)"). The
error names neither the layer that rounded nor the rule the model keeps: inputs
whose sizes are multiples of its downsampling factors (2 ** depth for a U-Net).

Found from shapes alone: a failed join whose operands differ in a spatial dim
(dim 2 on), one of them the size a downsampling of the pass took in and rounded,
the other what its output scaled back up by the same factor gives; the latest
such downsampling before the join is named.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text, pass_root
from shapetrace.analyze.operand_text import operand_name
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call, TensorMeta
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_CONCATS = frozenset({"cat", "concat", "concatenate", "stack"})
_JOINS = _CONCATS | {"add", "sub", "mul", "add_", "sub_", "mul_"}


class _Downsampling:
    """``call`` took size ``before`` to ``after`` in ``dim``: by ``factor``, rounded unless exact."""

    def __init__(self, call: Call, dim: int, before: int, after: int) -> None:
        self.call, self.dim, self.before, self.after = call, dim, before, after
        self.factor = round(before / after)


def _downsamplings(root: Call, ndim: int, until: int) -> list[_Downsampling]:
    """Each call of the pass before call ``until`` whose first input and output have
    ``ndim`` dims and whose spatial dims shrink by a factor of 2 or more, in order."""
    found = []
    for call in root.walk():
        if call.id >= until or call.children or not call.inputs or call.output is None:
            continue
        given, made = call.inputs[0].shape, call.output.shape
        if len(given) != ndim or len(made) != ndim or given[0] != made[0]:
            continue
        for dim in range(2, ndim):
            if made[dim] >= 1 and given[dim] >= 2 * made[dim] - 1 and round(given[dim] / made[dim]) >= 2:
                found.append(_Downsampling(call, dim, given[dim], made[dim]))
    return found


def _mismatch(call: Call) -> tuple[TensorMeta, TensorMeta, int] | None:
    """Two operands of the same rank that differ in one spatial dim (neither size 1)."""
    tensors = [meta for meta in call.inputs if meta.ndim >= 3]
    for i, first in enumerate(tensors):
        for second in tensors[i + 1 :]:
            if first.ndim != second.ndim:
                continue
            dims = [
                d
                for d in range(2, first.ndim)
                if first.shape[d] != second.shape[d] and 1 not in (first.shape[d], second.shape[d])
            ]
            if dims:
                return first, second, dims[0]
    return None


def _multiple(downsamplings: list[_Downsampling], dim: int, size: int) -> int:
    """The product of the factors down the chain from the model's input size."""
    total, current = 1, size
    steps = {(r.before, r.after): r.factor for r in downsamplings if r.dim == dim}
    while True:
        step = next(((before, after) for before, after in steps if before == current), None)
        if step is None:
            return total
        total *= steps.pop(step)
        current = step[1]


def _join_text(call: Call) -> str:
    """``torch.cat``; ``the add`` for an elementwise op (its operands are named after it)."""
    return op_text(call) if call.name in _CONCATS else f"the {call.name}"


def _name(call: Call, meta: TensorMeta) -> str:
    return operand_name(call, meta.path) or f"the {format_shape(meta)} tensor"


@register(
    "ST022",
    "skip-size-mismatch",
    "error",
    "a skip connection joined to a map that downsampling rounded (an odd size pooled and upsampled back)",
)
def check_skip_size(trace: Trace) -> Iterator[Finding]:
    for call in trace.calls:
        if call.kind != "op" or call.error is None or call.name not in _JOINS:
            continue
        found = _mismatch(call)
        if found is None:
            continue
        first, second, dim = found
        root = pass_root(call)
        downsamplings = _downsamplings(root, first.ndim, call.id)
        for skip, upsampled in ((first, second), (second, first)):
            size, back = skip.shape[dim], upsampled.shape[dim]
            rounded = [
                r for r in downsamplings if r.dim == dim and r.before == size and r.after * r.factor == back != size
            ]
            if rounded:
                yield _finding(call, rounded[-1], skip, upsampled, downsamplings, root)
                break


def _finding(
    call: Call,
    rounded: _Downsampling,
    skip: TensorMeta,
    upsampled: TensorMeta,
    downsamplings: list[_Downsampling],
    root: Call,
) -> Finding:
    dim, size = rounded.dim, rounded.before
    skip_name, up_name = _name(call, skip), _name(call, upsampled)
    message = (
        f"{_join_text(call)} {at_line(call)} joins {up_name} {format_shape(upsampled)} with {skip_name} "
        f"{format_shape(skip)}: {call_label(rounded.call)} {at_line(rounded.call)} took {size} to "
        f"{rounded.after} ({size} is not a multiple of {rounded.factor}), and {rounded.after} scaled back up by "
        f"{rounded.factor} is {upsampled.shape[dim]}"
    )
    given = root.inputs[0] if root.inputs and root.inputs[0].ndim == skip.ndim else None
    multiple = _multiple(downsamplings, dim, given.shape[dim]) if given is not None else 1
    pad = ""
    if given is not None and multiple > 1:
        message += (
            f"; the model keeps its sizes only for inputs whose dim {dim} is a multiple of {multiple}, "
            f"and this input is {format_shape(given)}"
        )
        pad = f", or pad the input to a multiple of {multiple} ({given.shape[dim]} to "
        pad += f"{math.ceil(given.shape[dim] / multiple) * multiple})"
    spatial = f"{skip_name}.shape[2:]" if operand_name(call, skip.path) else str(tuple(skip.shape[2:]))
    hint = f"resize the upsampled map to the skip's size: F.interpolate({up_name}, size={spatial}){pad}"
    return finding("ST022", call, message, hint)
