"""ST001's evidence from layers that slide a kernel: a convolution or a pool
before the RNN runs along its input's spatial dims, never along the batch.

``nn.Conv1d`` takes ``(N, C, L)`` and slides its kernel along ``L`` (PyTorch's
documented layout; ``Conv2d``: ``(N, C, H, W)``): ``L`` is a sequence, an image
row, a time axis. If, by lineage, the axis a kernel of more than one tap slid
along reaches the RNN as the axis it takes as its batch, while the kernel's own
batch (``N``) reaches it as the axis it steps through, the code that built the
input read the data one way and the RNN reads it the other: the classic Conv1d
front end permuted to ``(T, B, C)`` for a ``batch_first=True`` LSTM. The other
way round agrees with its layout. A batch of one (no axis to follow) and a batch
merged with positions (a dual-path model's ``(B * F, T, C)``) tell nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, pass_root
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.lineage.atoms import axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape

_SPATIAL = {
    "Conv1d": 1,
    "Conv2d": 2,
    "Conv3d": 3,
    "MaxPool1d": 1,
    "MaxPool2d": 2,
    "MaxPool3d": 3,
    "AvgPool1d": 1,
    "AvgPool2d": 2,
    "AvgPool3d": 3,
}


def kernel_clues(flow: TraceLineage, lay: Layout) -> Iterator[Clue]:
    """One clue per axis of the RNN's input that a kernel slid along earlier in the pass:
    swapped when it is the axis the RNN takes as the batch, agreeing when it is time."""
    said: set[bool] = set()
    batch, time = axes(lay.batch), axes(lay.time)
    for call in pass_root(lay.call).walk():
        if call.id >= lay.call.id:
            break
        dims = _slid_dims(call)
        lineage = flow.input_lineage(call, 0) if dims else ()
        # Both ends must agree: the kernel's own batch (dim 0) is one of the layer's axes and the
        # axis it slid along the other. A batch of one has no axis to follow (its size-1 dim),
        # and a batch merged with positions (a dual-path model's (B * F, T, C)) is neither.
        samples = axes(lineage[0]) if lineage else set()
        for dim in dims:
            slid = axes(lineage[dim])
            swapped = True if (slid, samples) == (batch, time) else False if (slid, samples) == (time, batch) else None
            if swapped is None or swapped in said:
                continue
            said.add(swapped)
            what = "the axis it takes as the batch" if swapped else f"the axis it {lay.verb}"
            yield Clue(
                swapped,
                f"{call.name or call.type} ({call.type}) {at_line(call)} slides its kernel along dim {dim} of "
                f"its input {format_shape(call.inputs[0])}, an axis of positions, not of samples, and that "
                f"axis is {what}",
            )


def _slid_dims(call: Call) -> list[int]:
    """The dims of a batched input that ``call``'s kernel (more than one tap) slides along."""
    spatial = _SPATIAL.get(call.type) if call.kind == "module" else None
    if spatial is None or not call.inputs or call.inputs[0].ndim != spatial + 2:
        return []
    kernel = call.config.get("kernel_size")
    sizes = kernel if isinstance(kernel, (tuple, list)) else (kernel,) * spatial
    return [2 + k for k, size in enumerate(sizes) if isinstance(size, int) and size > 1]
