"""ST019 over-batch-axis: a softmax or a reduction along the batch axis.

``F.softmax(logits, dim=0)`` on ``(batch, classes)`` scores runs, and gives each
class a distribution over the samples of the batch: every sample's probabilities
then depend on the other samples, and the loss trains on nonsense. The same for
``nn.Softmax(dim=0)``, attention weights normalised over the batch instead of the
time steps, and ``F.softmax(x)`` without a dim on a 3-d input, for which PyTorch
picks dim 0 (``torch.nn.functional._get_softmax_dim``, deprecated with a warning
that scripts print and users skip). A reduction does it the other way:
``out.mean(dim=0)`` on a batch-first RNN output pools the batch where the time
steps were meant, and what follows reads the time steps as the samples.

Which axis is the batch comes from lineage (``_batch_axes.py``): a sequence
layer's flag, a DataLoader's batch, a class loss's N. So the
check holds when the sizes coincide (8 samples, 8 classes) and stays quiet on the
same ops along other axes: a seq-first attention's softmax over dim 0 (time), a
similarity matrix between two batches (both axes are samples), a batch statistic
broadcast back (``x - x.mean(0)``: the batch axis reaches the output; any
``keepdim=True`` statistic), one bag's instances pooled by multiple-instance
learning (a convolution's N is not taken for a batch).

A CNN pooled by hand over its batch, ``f.mean(0)`` where ``f.mean((2, 3))``
was meant, is found when a DataLoader stacked that batch.

Limits: a reduction is flagged only over a sequence layer's or a DataLoader's
batch axis, when that axis reaches none of the model's outputs; a softmax needs an axis known to be
the batch. Where a layer's batch and time have one size and nothing else tells
them apart, the layer's ``batch_first`` may be the mistake instead: the finding
gives both fixes (ST001 says the same at ``info``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._batch_axes import BatchAxis, batch_axes
from shapetrace.analyze.checks._batch_first_help import batch_first_help
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._dim_call import rewritten, softmax_dim, softmax_fix
from shapetrace.analyze.checks._misweighted import misweighted
from shapetrace.analyze.checks._rnn import is_rnn
from shapetrace.analyze.checks._weights_use import WeightsUse
from shapetrace.analyze.lineage.atoms import Lineage, origins
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.op_args import reduced_axes
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_POOLING = {"mean": "averages", "sum": "sums", "max": "takes the maximum", "amax": "takes the maximum"}
_POOLING |= {"min": "takes the minimum", "amin": "takes the minimum", "prod": "multiplies"}
_POOLING |= {"logsumexp": "takes the log-sum-exp", "nanmean": "averages", "nansum": "sums"}


def _another_batch(lineage: Lineage, dim: int, known: dict[str, BatchAxis]) -> bool:
    """Another axis may hold samples too (a similarity matrix of two batches): one
    known as a batch, or, of the same size, dim 0 of another tensor."""
    size = sum(atom.size for atom in lineage[dim])
    for k, atoms in enumerate(lineage):
        if k == dim:
            continue
        if origins(atoms) & (known.keys() | origins(lineage[dim])):
            return True
        if sum(atom.size for atom in atoms) == size and any(o.endswith(":0") for o in origins(atoms)):
            return True
    return False


def _what(lineage: Lineage, dim: int, size: int, axis: BatchAxis) -> str:
    """``the 12 time steps``: what a dim holds, as far as the trace tells."""
    lay = axis.layout
    if lay is not None and len(lay.time) == 1 and origins(lineage[dim]) == {lay.time[0].origin}:
        return f"the {size} {'time steps' if is_rnn(lay.call) else 'positions'}"
    return f"the {size} values of each sample"


def _meant(lineage: Lineage, shape: tuple[int, ...], dim: int, axis: BatchAxis) -> int | None:
    """The dim a softmax over the batch ``dim`` was meant for: a convolution output's
    channels (dim 1 of ``(N, C, L)``, where a loss reads the classes), else the last
    dim (the classes, a sample's scores), else, where the last is the sequence layer's
    time axis or of size 1, that time axis; never one of size 1 (a softmax there makes
    every weight 1). None when no dim fits."""
    ndim = len(lineage)
    fits = [k for k in range(ndim) if k != dim and shape[k] > 1]
    if ndim >= 3 and 1 in fits and any(o.endswith(":channels") for o in origins(lineage[1])):
        return 1
    time = axis.layout.where(lineage)[1] if axis.layout is not None else None
    if ndim - 1 in fits and time != ndim - 1:
        return ndim - 1
    if time in fits:
        return time
    return fits[-1] if fits else None


def _undecided(axis: BatchAxis, flow: TraceLineage) -> tuple[str, str]:
    """The message's and the help's last words when the layer's flag may be the mistake."""
    lay = axis.layout
    if lay is None or not axis.undecided:
        return "", ""
    message = (
        f". Batch and time are both {lay.batch_size}, so it runs either way; if the data is "
        f"(time, batch, ...), {call_label(lay.call, 'batch_first')}'s flag is wrong instead (ST001)"
    )
    return message, f"; or, if the data is seq-first, {batch_first_help(flow, lay)}"


class OverBatch(NamedTuple):
    """A softmax over a batch axis, and the axis it was meant for."""

    dim: int
    implicit: bool
    lineage: Lineage
    axis: BatchAxis
    meant: int
    use: WeightsUse | None  # a product summing the weights over the axis meant (ST021's case as well)


def over_batch_softmax(call: Call, flow: TraceLineage, known: dict[str, BatchAxis]) -> OverBatch | None:
    """The softmax ``call`` normalising a batch axis (``batch_axes``), and the axis
    meant: the one a product sums the weights over (``misweighted``), else a
    sample's scores (``_meant``); None when it is not one, or no axis fits."""
    got = softmax_dim(call)
    if got is None or (call.parent is not None and softmax_dim(call.parent) is not None):
        return None
    dim, implicit = got
    lineage = flow.input_lineage(call, 0)
    # a 1-d softmax over samples has no other axis that could have been meant (ListNet's scores)
    if len(lineage) < 2 or len(lineage[dim]) != 1 or lineage[dim][0].origin not in known:
        return None
    axis = known[lineage[dim][0].origin]
    if _another_batch(lineage, dim, known):
        return None
    use = misweighted(flow, call, dim)
    meant = use.summed[0] if use is not None else _meant(lineage, call.inputs[0].shape, dim, axis)
    return OverBatch(dim, implicit, lineage, axis, meant, use) if meant is not None else None


def _softmaxes(trace: Trace, flow: TraceLineage, known: dict[str, BatchAxis]) -> Iterator[Finding]:
    for call in trace.calls:
        found = over_batch_softmax(call, flow, known)
        if found is None:
            continue
        dim, implicit, lineage, axis, meant, use = found
        ndim = len(lineage)
        shape = call.inputs[0].shape
        written = -1 if ndim >= 3 and meant == ndim - 1 else meant
        label, hint = softmax_fix(call, written, None if implicit else dim)
        implicit_text = f" gives no dim, so PyTorch picks dim 0 of a {ndim}-d input, and" if implicit else ""
        more, also = _undecided(axis, flow)
        # summed over another axis as well: one finding for both mistakes, at ST021's severity
        summed = f", which {use.text} {at_line(use.call)} sums them over (ST021)" if use is not None else ""
        message = (
            f"{label} {at_line(call)}{implicit_text} normalizes over dim {dim} of {format_shape(call.inputs[0])}, "
            f"{axis.why}: its values sum to 1 over the {shape[dim]} samples of the batch, not over "
            f"{_what(lineage, meant, shape[meant], axis)}{summed}, so each sample's result depends on the others "
            f"batched with it{more}"
        )
        yield finding("ST019", call, message, hint + also, "error" if use is not None else None)


def _reductions(trace: Trace, flow: TraceLineage, known: dict[str, BatchAxis]) -> Iterator[Finding]:
    """Poolings over a sequence layer's batch axis or a DataLoader's (never a convolution's
    N alone: it may hold one bag's instances, a prototypical network's support set,
    pooled on purpose)."""
    for root in trace.calls:
        if root.parent is not None or root.kind != "module" or not root.outputs or not root.outputs[0].shape:
            continue
        reached = {o for k in range(len(root.outputs)) for dim in flow.output_lineage(root, k) for o in origins(dim)}
        flagged: set[str] = set()
        for op in root.walk():
            if op.kind != "op" or op.name not in _POOLING or not op.inputs or op.output is None:
                continue
            if op.kwargs.get("keepdim"):
                continue  # a batch statistic kept to broadcast back (whitening, normalisation)
            lineage = flow.input_lineage(op, 0)
            for batch in reduced_axes(op, len(lineage)) or ():
                origin = lineage[batch][0].origin if len(lineage[batch]) == 1 else None
                axis = known.get(origin) if origin is not None else None
                # the batch reaching the output: a batch statistic used on purpose (x - x.mean(0))
                if origin is None or axis is None or origin in reached or origin in flagged:
                    continue
                if axis.layout is None and not axis.loader:
                    continue
                flagged.add(origin)
                yield _pooled(flow, op, batch, lineage, axis, root)


def _pooled(flow: TraceLineage, op: Call, batch: int, lineage: Lineage, axis: BatchAxis, root: Call) -> Finding:
    lay = axis.layout
    time = lay.where(lineage)[1] if lay is not None else None
    steps = "time steps" if lay is not None and is_rnn(lay.call) else "positions"
    pooled = reduced_axes(op, len(lineage)) or ()
    if time in pooled:
        time = None
    size = op.inputs[0].shape[batch]
    rows = f"; its rows are the {lay.steps} {steps}" if lay is not None and time is not None else ""
    more, also = _undecided(axis, flow)
    spatial = _spatial(lineage, batch, op) if time is None else None
    texts = rewritten(op, spatial or (time if time is not None else batch), batch)
    label = texts[0] if texts else op_text(op)
    if spatial is not None:
        rows = f"; its dims {spatial} are the feature map's positions"
    message = (
        f"{label} {at_line(op)} {_POOLING[op.name]} over dim {batch} of {format_shape(op.inputs[0])}, "
        f"{axis.why}: the result mixes all {size} samples, and the model's output "
        f"{format_shape(root.outputs[0])} has no batch axis left{rows}{more}"
    )
    hint = (
        f"use {texts[1]}"
        if texts and (time is not None or spatial is not None)
        else f"reduce the axis that was meant, not dim {batch} (the batch), so that each sample keeps its row"
    )
    return finding("ST019", op, message, hint + also)


# Reductions that take a tuple of dims, as the spatial pooling of a feature map needs.
_MANY_DIMS = frozenset({"mean", "sum", "amax", "amin", "nanmean", "nansum", "logsumexp"})


def _spatial(lineage: Lineage, batch: int, op: Call) -> str | None:
    """``(2, 3)``: the positions of a convolution's (N, C, *spatial) output that a
    pooling over its N (dim 0) was meant for, its dim 1 the channels; None otherwise."""
    ndim = len(lineage)
    if batch != 0 or ndim < 3 or op.name not in _MANY_DIMS:
        return None
    if not any(o.endswith(":channels") for o in origins(lineage[1])):
        return None
    return f"({', '.join(map(str, range(2, ndim)))}{',' if ndim == 3 else ''})"


@register(
    "ST019",
    "over-batch-axis",
    "warning",
    "a softmax or a mean/sum/max along the batch axis (dim=0 where the classes or time steps were meant)",
)
def check_over_batch(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    known = batch_axes(trace, flow)
    if known:
        yield from _softmaxes(trace, flow, known)
        yield from _reductions(trace, flow, known)
