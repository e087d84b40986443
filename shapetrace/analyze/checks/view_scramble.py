"""ST002 view-scrambles-dims: a view/reshape used where a permute was meant.

``view`` reinterprets memory in order: it can merge neighbouring axes or
split one, never swap them. Dimension lineage knows the axes each dim is
made of (also through earlier merges: the 150 of ``view(B * T, H)`` is B
then T). A view whose new dims are those same axes in another order, like
``(B, T, F).view(T, B, F)`` or ``(B*T, H).view(T, B, H)``, cuts the data into
the right sizes but mixes samples and time steps.

A view whose swapped dims are cropped right after is not that mistake but
the skew (relative-shift) idiom of relative-position attention: XLNet's and
Funnel's ``x.reshape(b, n, klen, qlen)[:, :, 1:, :].reshape(b, n, qlen, klen - 1)``,
Longformer's pad-then-view diagonalisation. Reading the same memory with the
row length changed by one shifts each row against the next, on purpose; the
crop drops the rows the shift wrapped. So a view whose every use is an index
(a slice or a gather, never a whole-axis read) that crops one of its
reordered dims is left alone, and so is the view that reads such a cropped
block back (its axes are the skew's, never the original ones). So is a view
whose result goes to ``as_strided`` (Longformer's overlapping chunks): that
reads the memory with strides of its own, not the view's axes. A skew
changes the row length, so its view reads a padded block or its crop is read
back by another view; a swapped view cropped and used as axes
(``x.view(T, B, F)[:-1]`` into a time-major GRU) is reported.

Limits: axes of equal size (B == T) are told apart by lineage only where
the sizes differ; ``(5, 5, 8).view(5, 5, 8)`` shows nothing to check.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._axes import downstream_clean
from shapetrace.analyze.checks._common import at_line, op_text, receiver_text, view_calls, view_text, written_sizes
from shapetrace.analyze.checks._einops import pattern_fix, ran_by_einops
from shapetrace.analyze.checks._patch_tokens import channels_as_tokens
from shapetrace.analyze.lineage.atoms import Atom, regroup
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape
from shapetrace.core.torch_facts import CREATION_OPS
from shapetrace.core.trace import Trace


def _reordering(atoms: Sequence[Atom], sizes: Sequence[int]) -> list[int] | None:
    """For each output dim, the atom it takes when the sizes are a shuffle of the
    atoms (equal sizes matched in order); None when they are not."""
    if sorted(a.size for a in atoms) != sorted(sizes):
        return None
    free = list(range(len(atoms)))
    order = []
    for size in sizes:
        index = next(i for i in free if atoms[i].size == size)
        free.remove(index)
        order.append(index)
    return order


def _swap_text(order: Sequence[int]) -> str:
    moved = [i for i, j in enumerate(order) if i != j]
    if len(moved) == 2:
        return f"transpose({moved[0]}, {moved[1]})"
    return f"permute({', '.join(map(str, order))})"


def _fix(call: Call, blocks: list[tuple[tuple[Atom, ...], tuple[int, ...], list[int]]], flow: TraceLineage) -> str:
    """``x.transpose(0, 1)``, or a view in the atoms' own order then a permute;
    or that view alone when what follows (a permute, a view) already reads the
    result in memory order. Sizes are written as the user wrote them."""
    shape = list(call.output.shape)  # type: ignore[union-attr]
    natural = list(shape)
    order = list(range(len(shape)))
    written = written_sizes(call) or [str(s) for s in shape]
    natural_args = list(written)
    for atoms, dims, picks in blocks:
        for dim, atom in zip(dims, atoms):
            natural[dim] = atom.size
        for dim, pick in zip(dims, picks):
            order[dim] = dims[pick]
            natural_args[dims[pick]] = written[dim]
    tensor = receiver_text(call)
    in_order = regroup(flow.input_lineage(call, 0), natural, "fix").lineage
    if tuple(natural) == call.inputs[0].shape:
        return f"use {tensor}.{_swap_text(order)}"
    view = view_text(call, tensor, natural_args)
    as_asked = tuple(in_order[i] for i in order)
    if not downstream_clean(flow, call, as_asked) and downstream_clean(flow, call, in_order):
        return f"use {view}: what follows reads it in memory order"
    return f"use {view}.{_swap_text(order)}"


# Ops that read part of a tensor by position: after a skew view, the code only indexes
# (or makes a new tensor of its dtype and device, reading no data: Longformer's new_zeros).
_INDEXING = frozenset({"__getitem__", "narrow", "index_select", "select", "slice", "as_strided"}) | CREATION_OPS


def _mixed_origins(call: Call, dims: Sequence[int]) -> set[str]:
    """The origins the lineage gives a view's reordered output ``dims`` (``regroup``'s
    fresh atoms, named after the call as ``op_rules`` names them)."""
    return {f"{call.name}#{call.id}:{dim}" for dim in dims}


def _is_skew(flow: TraceLineage, call: Call, dims: Sequence[int]) -> bool:
    """True when every use of ``call``'s output indexes it and one crops a reordered dim:
    the output is sliced shorter along it (its atom comes back resized), as the
    relative shift's ``[:, :, 1:, :]`` does; or one is ``as_strided``, which reads the
    memory with strides of its own (Longformer's overlapping chunks), not the view's axes."""
    used = flow.consumers(call, 0)
    if not used or any(user.kind != "op" or user.name not in _INDEXING or index != 0 for user, index in used):
        return False
    if any(user.name == "as_strided" for user, _ in used):
        return True
    shape = call.output.shape  # type: ignore[union-attr]
    sizes = {f"{call.name}#{call.id}:{dim}": shape[dim] for dim in dims}
    cropped = [
        user
        for user, _ in used
        if any(
            atom.origin in sizes and atom.size < sizes[atom.origin]
            for dim in flow.output_lineage(user, 0)
            for atom in dim
        )
    ]
    return bool(cropped) and (_padded(flow, call) or any(_read_back(flow, user) for user in cropped))


# A skew changes the row length of a block: by padding it first (Transformer-XL's and
# Longformer's zero column or row) or by reading the cropped block back with a view of
# its own (XLNet's and Funnel's reshape, Transformer-XL's view_as). A view swapped by
# mistake and then cropped (every step but the last, ``x.view(T, B, F)[:-1]``) goes on
# to be used as axes.
_PADS = frozenset({"pad", "constant_pad_nd"})
_READ_BACK = frozenset({"view", "reshape", "view_as", "reshape_as"})


def _padded(flow: TraceLineage, call: Call) -> bool:
    """True when the view's input was made by a pad (the row grown by one)."""
    source = flow.source(call, 0)
    return source is not None and not source.as_input and source.call.name in _PADS


def _read_back(flow: TraceLineage, crop: Call, depth: int = 3) -> bool:
    """True when the cropped block goes, through more indexing, to a view that reads it back."""
    for user, index in flow.consumers(crop, 0):
        if index != 0:
            continue
        if user.name in _READ_BACK or (depth > 1 and user.name in _INDEXING and _read_back(flow, user, depth - 1)):
            return True
    return False


@register(
    "ST002",
    "view-scrambles-dims",
    "error",
    "a view/reshape that reorders dims (a permute/transpose was meant), including a merged dim "
    "split back in the wrong order",
)
def check_view_scramble(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    skewed: set[str] = set()  # the origins of the axes that skew views made
    for call in view_calls(trace):
        shape = call.output.shape  # type: ignore[union-attr]
        mixed = regroup(flow.input_lineage(call, 0), shape, "check").mixed
        blocks = []
        for atoms, dims in mixed:
            if all(atom.origin in skewed for atom in atoms):
                continue  # reads a skewed block back: its axes were never the original ones
            if _is_skew(flow, call, dims):
                skewed |= _mixed_origins(call, dims)
                continue
            picks = _reordering(atoms, [shape[d] for d in dims])
            if picks is not None:
                blocks.append((atoms, dims, picks))
        if not blocks:
            continue
        in_pattern = pattern_fix(call, flow)
        if in_pattern is not None:  # einops' rearrange ran the view: the fix is in its pattern
            yield finding("ST002", call, *in_pattern)
            continue
        laid_out = " x ".join(str(atom.size) for atom in blocks[0][0])
        message = (
            f"{op_text(call)} {at_line(call)} makes {format_shape(call.output)} from "  # type: ignore[arg-type]
            f"{format_shape(call.inputs[0])}, whose axes are {laid_out} in memory: a view cannot "
            f"reorder axes, so this mixes them up instead of swapping them"
        )
        if ran_by_einops(call):  # the op's tensor and sizes are einops' own: the fix is in a pattern
            hint = f"in the einops pattern {at_line(call)}, write the group's names in the order of its axes in memory"
            yield finding("ST002", call, message + f" (einops ran the {call.name} for that line)", hint)
            continue
        yield finding("ST002", call, message, _fix(call, blocks, flow))
    yield from channels_as_tokens(trace, flow)
