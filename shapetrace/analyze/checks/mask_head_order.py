"""ST025 mask-head-order: a per-sample attention mask repeated per head head-major,
where the attention reads it batch-major.

A padding or causal mask made per sample, (B, L, S), is copied once per head for an
attention that takes one mask per (sample, head). ``nn.MultiheadAttention`` takes a
3-D ``attn_mask`` as (N * num_heads, L, S) and reads row ``b * num_heads + h`` as
sample b's mask for head h (its documentation; it views the mask as
(N, num_heads, L, S)); ``F.scaled_dot_product_attention`` broadcasts a 4-D mask against
its (N, heads, L, S) scores. ``mask.repeat(num_heads, 1, 1)`` copies the whole batch
num_heads times, head-major (row ``h * B + b``), so the attention gives each sample's
heads other samples' masks: the shapes fit, and nothing raises.
``mask.repeat_interleave(num_heads, dim=0)`` repeats each sample's mask in a row.

Lineage tells the copies from the data (``repeat``, ``tile``, ``repeat_interleave``,
``expand`` and ``torch.cat([mask] * H)`` make an axis of copies, ``atoms.is_copies``),
whatever the sizes: with
batch == heads the copies are still copies. The finding is placed at the op that
made the copies, the line to change.

Hand-written attention is the same mistake one step earlier: scores ``bmm(q, k)`` of
(B * H, L, S) whose dim 0 is batch-major (``q.view(B, L, H, D).transpose(1, 2)
.reshape(B * H, L, D)``) meet a head-major mask in ``masked_fill`` or ``+``; or the
other way round, scores folded head-major (``torch.cat(q.split(D, -1), 0)``, row
h * B + b) meet a mask copied batch-major (``repeat_interleave``), help
``mask.repeat(H, 1, 1)``. Which of the scores' two merged axes is the batch: the
mask's own samples' axis where the lineage shares it, else the one of the batch's
size, else the one a model input gave (the heads come from a layer's features).

PyTorch's transformer modules hand their masks (``src_mask``, ``mask``, ``tgt_mask``,
``memory_mask``) to a MultiheadAttention, made float on the way (no lineage inside): the
module's own mask input is checked, against its attention's ``num_heads``.

A per-sample (N, L, S) mask given where one per (sample, head) is taken (3-D
``attn_mask``, ``src_mask``...) makes PyTorch raise; the finding (an error) gives
the copies batch-major, ``mask.repeat_interleave(num_heads, dim=0)``, not the
``repeat`` that looks alike.

Limits: a mask made per head by other means (a loop of ``torch.cat``) has no axis of
copies.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, call_of_origin, op_text, receiver_text
from shapetrace.analyze.checks._mask_placer import MASKING_OPS
from shapetrace.analyze.checks._source import find_call, keyword_text
from shapetrace.analyze.lineage.atoms import Atom, DimAtoms, dim_size, is_copies
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace


def _head_major(dim: DimAtoms) -> Atom | None:
    """The axis of copies a merged (copies, samples) dim starts with: the batch repeated
    whole, head-major; None when the dim is not that."""
    if len(dim) < 2 or not is_copies(dim[0]) or all(is_copies(atom) for atom in dim[1:]):
        return None
    return dim[0]


# PyTorch's transformer modules and the names of their masks, each handed to a
# MultiheadAttention inside (made float there: its lineage ends at the module).
_MASK_HOLDERS = {
    "MultiheadAttention": ("attn_mask",),
    "TransformerEncoderLayer": ("src_mask",),
    "TransformerEncoder": ("mask",),
    "TransformerDecoderLayer": ("tgt_mask", "memory_mask"),
    "TransformerDecoder": ("tgt_mask", "memory_mask"),
    "Transformer": ("src_mask", "tgt_mask", "memory_mask"),
}


def _mask_inputs(call: Call) -> list[int]:
    """The positions in ``call.inputs`` of an attention call's masks (``attn_mask``,
    ``src_mask``...; ``scaled_dot_product_attention``'s fourth argument)."""
    if call.kind == "op":
        names: tuple[str, ...] = ("attn_mask", "3") if call.name == "scaled_dot_product_attention" else ()
    else:
        names = _MASK_HOLDERS.get(call.type, ()) if is_builtin(call) else ()
    return [k for k, meta in enumerate(call.inputs) if meta.path in names]


def _heads(call: Call) -> object:
    """A transformer module's ``num_heads``: its own, or its first MultiheadAttention's."""
    return next(
        (inner.config.get("num_heads") for inner in call.walk() if inner.type == "MultiheadAttention"),
        call.config.get("num_heads"),
    )


def _per_sample_data(dim: DimAtoms, copies: Atom) -> bool:
    """Whether the copied block is per sample (its axis the batch), not per head: an
    (H, L, S) bias repeated B times, ``bias.repeat(B, 1, 1)``, is batch-major as it should
    be. A model input's axis is the batch; with as many samples as heads an axis made
    in the forward cannot be told from the heads."""
    data = [atom for atom in dim if atom is not copies]
    return bool(data) and (data[0].origin.startswith("input#") or data[0].size != copies.size)


def _misplaced_copies(flow: TraceLineage, call: Call, mask: int) -> tuple[Atom, str, bool, int] | None:
    """The copies of a mask that sit where the attention reads samples, how it reads
    them, and False: head-major copies (the attention's own masks are read batch-major)."""
    dims = flow.input_lineage(call, mask)
    if call.kind == "module":
        # (N * num_heads, L, S), row b * num_heads + h
        copies = _head_major(dims[0]) if len(dims) == 3 else None
        if copies is not None and copies.size == _heads(call) and _per_sample_data(dims[0], copies):
            return copies, "reads a 3-D attn_mask (N * num_heads, L, S) batch-major, row b * num_heads + h", False, 3
        return None
    query = call.inputs[0]
    if len(dims) == 3 and query.ndim == 3 and (copies := _head_major(dims[0])) is not None:
        return copies, "reads its batch dim 0 (N * heads) batch-major, row b * heads + h", False, 3
    if len(dims) == 4 and query.ndim == 4:
        batch, heads = dims[0], dims[1]
        if (
            len(batch) == 1
            and is_copies(batch[0])
            and batch[0].size == query.shape[1]
            and heads
            and not any(is_copies(atom) for atom in heads)
        ):
            return batch[0], "reads dim 0 of its (N, heads, L, S) mask as the batch and dim 1 as the heads", False, 4
    return None


def _against_scores(flow: TraceLineage, call: Call) -> tuple[Atom, str, bool, int] | None:
    """A mask copied per head in ``masked_fill``/``+`` with scores whose same dim folds
    batch and heads in the other order: ``(copies, how the scores read it, whether
    the mask's copies are interleaved, the mask's number of dims)``."""
    lineages = [flow.input_lineage(call, k) for k in range(len(call.inputs))]
    for mask in lineages:
        for back in range(1, len(mask) + 1):
            order = _copies_order(mask[-back])
            if order is None:
                continue
            copies, data, interleaved = order
            for k, scores in enumerate(lineages):
                dim = scores[-back] if back <= len(scores) else ()
                if len(dim) != 2 or any(is_copies(atom) for atom in dim) or dim_size(dim) != dim_size(mask[-back]):
                    continue
                batch = _batch_position(dim, data, copies)
                if batch is None or (batch == 0) == interleaved:
                    continue  # the scores fold batch and heads as the mask does
                scored = f"the {format_shape(call.inputs[k])} scores, whose dim {len(scores) - back}"
                order_text = "batch-major (row b * H + h)" if batch == 0 else "head-major (row h * B + b)"
                return copies, f"puts it on {scored} is {order_text}", interleaved, len(mask)
    return None


def _copies_order(dim: DimAtoms) -> tuple[Atom, Atom, bool] | None:
    """``(copies, data, interleaved)`` for a dim that merges a mask's samples with
    copies of them: head-major (copies outermost), or interleaved (each sample's
    copies in a row, ``repeat_interleave``)."""
    if len(dim) == 2 and is_copies(dim[1]) and not is_copies(dim[0]):
        return dim[1], dim[0], True
    copies = _head_major(dim)
    return (copies, dim[1], False) if copies is not None else None


def _batch_position(dim: DimAtoms, data: Atom, copies: Atom) -> int | None:
    """Which of the scores' two merged axes is the batch: the mask's own samples' axis,
    else the one of the batch's size (batch != heads), else the one a model input
    gave (the heads come from a layer's features); None when nothing tells."""
    same = [k for k, atom in enumerate(dim) if atom.origin == data.origin]
    if len(same) == 1:
        return same[0]
    if data.size != copies.size:
        sized = [k for k, atom in enumerate(dim) if atom.size == data.size]
        return sized[0] if len(sized) == 1 else None
    given = [k for k, atom in enumerate(dim) if atom.origin.startswith("input#")]
    return given[0] if len(given) == 1 else None


def _maker(trace: Trace, copies: Atom) -> Call | None:
    """The ``repeat`` (or ``expand``) op whose copies these are (origin ``copies#ID:DIM``)."""
    return call_of_origin(trace.calls, copies.origin)


def _hint(maker: Call, copies: Atom) -> str:
    """``use mask.repeat_interleave(self.nhead, dim=0)``: the same counts, each sample's
    copies in a row."""
    found = find_call(maker.location, {maker.name}, None, maker.index) if maker.name in ("repeat", "tile") else None
    dim = int(copies.origin.rpartition(":")[2])
    counts = found.args if found is not None else ()
    if len(counts) == len(maker.outputs[0].shape) == len(maker.inputs[0].shape):
        repeated = [k for k, text in enumerate(counts) if text.strip() != "1"]
        if repeated == [dim]:
            return f"use {receiver_text(maker, 'mask')}.repeat_interleave({counts[dim]}, dim={dim})"
    if maker.name == "expand" and dim == 0:
        # ``m.unsqueeze(0).expand(H, B, L, S)``: the copies of ``m``, then interleaved
        base = receiver_text(maker, "")
        if base.endswith(".unsqueeze(0)") and base.removesuffix(".unsqueeze(0)").isidentifier():
            return (
                f"use {base.removesuffix('.unsqueeze(0)')}.repeat_interleave({copies.size}, dim=0) for the "
                f"(N * heads, L, S) mask: each sample's copies in a row"
            )
    return f"repeat each sample's mask once per head in a row: mask.repeat_interleave({copies.size}, dim=0)"


def _per_sample(call: Call) -> Finding | None:
    """A 3-D mask of one (L, S) mask per sample given where PyTorch takes one per
    (sample, head): its dim 0 is the batch N, not N * num_heads (PyTorch raises)."""
    masks = _mask_inputs(call) if call.kind == "module" else []
    heads = _heads(call) if masks else None
    if not isinstance(heads, int) or heads < 2 or not call.inputs or call.inputs[0].ndim != 3:
        return None
    first = call.config.get("batch_first")
    if first is None:  # a transformer module's flag is its attention's
        first = next((c.config.get("batch_first") for c in call.walk() if c.type == "MultiheadAttention"), False)
    batch = call.inputs[0].shape[0 if first else 1]
    for k in masks:
        mask = call.inputs[k]
        if mask.ndim != 3 or mask.shape[0] != batch or batch * heads == mask.shape[0]:
            continue
        wanted = format_dims((batch * heads, *mask.shape[1:]))
        message = (
            f"{call_label(call)} {at_line(call)} is given a per-sample {mask.path} {format_shape(mask)}, one (L, S) "
            f"mask per sample, where a 3-D mask is (N * num_heads, L, S) = {wanted}, one per (sample, head), "
            f"read batch-major (row b * num_heads + h)"
        )
        name = keyword_text(call.location, mask.path) or mask.path
        name = name if name.isidentifier() else f"({name})"
        hint = (
            f"use {name}.repeat_interleave({heads}, dim=0) (not .repeat({heads}, 1, 1): that copies the "
            f"batch head-major)"
        )
        return finding("ST025", call, message, hint, "error")
    return None


@register(
    "ST025",
    "mask-head-order",
    "warning",
    "a per-sample attention mask copied per head head-major where the attention reads it batch-major, or the other way",
)
def check_mask_head_order(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    seen: set[int] = set()
    for call in trace.calls:
        per_sample = _per_sample(call)
        if per_sample is not None:
            yield per_sample
            continue
        masks = _mask_inputs(call)
        masking = call.kind == "op" and call.name in MASKING_OPS and len(call.inputs) >= 2
        if not masks and not masking:
            continue
        flow = flow or trace_lineage(trace)
        found = [_misplaced_copies(flow, call, mask) for mask in masks] if masks else [_against_scores(flow, call)]
        misplaced = next((one for one in found if one is not None), None)
        maker = _maker(trace, misplaced[0]) if misplaced is not None else None
        if misplaced is None or maker is None or maker.id in seen or not maker.inputs or not maker.outputs:
            continue
        seen.add(maker.id)
        copies, reads, interleaved, ndim = misplaced
        copied = "each sample's mask" if interleaved else "the whole batch each time"
        message = (
            f"{op_text(maker)} {at_line(maker)} copies the {format_shape(maker.inputs[0])} mask "
            f"{copies.size} times, {copied} (row {'b * H + h' if interleaved else 'h * B + b'}); "
            f"{call_label(call)} {at_line(call)} {reads}, so each sample gets other samples' masks"
        )
        hint = _head_major_hint(maker, copies, ndim) if interleaved else _hint(maker, copies)
        yield finding("ST025", maker, message, hint)


def _head_major_hint(maker: Call, copies: Atom, ndim: int) -> str:
    """``use mask.repeat(4, 1, 1)``: the whole batch copied once per head, as scores
    folded head-major (``torch.cat(q.split(d, -1), 0)``) read it; ``ndim``: the
    copied mask's number of dims."""
    found = find_call(maker.location, {maker.name}, None, maker.index) if maker.name == "repeat_interleave" else None
    ones = ", 1" * (ndim - 1)
    if found is not None and found.args and copies.origin.endswith(":0"):
        return f"use {receiver_text(maker, 'mask')}.repeat({found.args[0]}{ones})"
    return f"copy the whole batch once per head, head-major as the scores are: mask.repeat({copies.size}{ones})"
