"""ST029 mask-axis-misaligned: an attention mask whose axis broadcasting lays along another axis of the scores.

Broadcasting aligns a mask with the scores from the right (PyTorch's broadcasting
semantics), whatever its axes are. A per-sample padding mask made (B, 1, S) for
(B, heads, L, S) scores reads as (1, B, 1, S): its samples lie along the heads, so
head h of every sample is masked with sample h's padding; ``(B, 1, 1, S)`` was meant.
With as many heads as samples nothing raises. ``F.scaled_dot_product_attention``
broadcasts its ``attn_mask`` the same way; so does a mask added or filled in.

Told by lineage, not sizes: the mask carries an axis of the scores (the batch, by the
tensors it was made from) at a dim that broadcasting puts against another of their
axes. The finding is placed where the mask got its axes (``_mask_placer.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._key_padding import transposed_padding_masks
from shapetrace.analyze.checks._mask_placer import MASKING_OPS, mask_placer
from shapetrace.analyze.lineage.atoms import DimAtoms, Lineage, axes, dim_size
from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_dims, format_shape
from shapetrace.core.trace import Trace

# What each dim of (B, heads, L, S) scores holds, for the message.
_SCORE_DIMS = ("samples", "heads", "queries", "keys")


def _scores(flow: TraceLineage, call: Call) -> tuple[Lineage, tuple[int, ...], list[int]] | None:
    """The scores' lineage and shape, and which inputs of ``call`` are masks."""
    if call.name == "scaled_dot_product_attention":
        if len(call.inputs) < 4 or call.inputs[0].ndim < 3:
            return None
        q, k = flow.input_lineage(call, 0), flow.input_lineage(call, 1)
        shape = (*call.inputs[0].shape[:-1], call.inputs[1].shape[-2])
        return (*q[:-1], k[-2]), shape, [m for m, meta in enumerate(call.inputs) if meta.path in ("attn_mask", "3")]
    if call.name not in MASKING_OPS or call.output is None:
        return None
    scores = next((m for m, meta in enumerate(call.inputs) if meta.shape == call.output.shape), None)
    if scores is None:
        return None
    masks = [m for m, meta in enumerate(call.inputs) if m != scores and 0 < meta.ndim < call.output.ndim]
    return flow.input_lineage(call, scores), call.output.shape, masks


def _misaligned(scores: Lineage, mask: Lineage) -> tuple[int, int, int] | None:
    """``(mask dim, scores dim it faces, scores dim holding its axis)`` for the first mask
    dim that holds an axis of the scores at another dim than the one it faces; or, for a
    mask given to the model apart from the data (a DataLoader's ``attention_mask`` beside
    its ``input_ids``: lineage cannot tie their samples), a given axis as long as the
    scores' given dim 0 (the samples) that faces an axis the model made (the heads)."""
    offset = len(scores) - len(mask)
    at = [axes(dim) for dim in scores]
    for j, dim in enumerate(mask):
        own = axes(dim)
        if not own or offset + j < 0 or own == at[offset + j]:
            continue
        if own in at:
            return j, offset + j, at.index(own)
        faced = scores[offset + j]
        if (
            offset + j > 0
            and _given(dim)
            and _given(scores[0])
            and dim_size(dim) == dim_size(scores[0])
            and faced
            and not _given(faced)
        ):
            return j, offset + j, 0
    return None


def _given(dim: DimAtoms) -> bool:
    """An axis of the data the model was given (a pass's input), not one it made."""
    return bool(dim) and all(atom.origin.startswith("input#") for atom in dim)


def _hint(placer: Call, j: int, faced: int, wanted: int) -> str:
    """``use (tokens != PAD)[:, None, :].unsqueeze(1)``: size-1 dims after dim ``j`` until it faces ``wanted``."""
    name = op_text(placer)
    missing = faced - wanted
    if missing <= 0:
        return f"lay the mask's dim {j} along dim {wanted} of the scores"
    return f"use {name}{f'.unsqueeze({j + 1})' * missing}: its dim {j} then faces dim {wanted} of the scores"


@register(
    "ST029",
    "mask-axis-misaligned",
    "error",
    "an attention mask with an axis of the scores (its samples) where broadcasting lays it along another (the heads)",
)
def check_mask_on_heads(trace: Trace) -> Iterator[Finding]:
    flow: TraceLineage | None = None
    seen: set[int] = set()
    for call in trace.calls:
        if call.kind != "op" or len(call.inputs) < 2 or not (call.name in MASKING_OPS or "dot_product" in call.name):
            continue
        flow = flow or trace_lineage(trace)
        found = _scores(flow, call)
        if found is None:
            continue
        scores, shape, masks = found
        for m in masks:
            place = _misaligned(scores, flow.input_lineage(call, m))
            placer = mask_placer(flow, call, m) if place is not None else None
            if place is None or placer is None or placer.id in seen:
                continue
            seen.add(placer.id)
            j, faced, wanted = place
            named, own = (_SCORE_DIMS[faced], _SCORE_DIMS[wanted]) if len(shape) == 4 else (f"dim {faced}", "axis")
            written = op_text(placer)
            message = (
                f"{written} {at_line(placer)} makes the mask {format_shape(placer.outputs[0])}, whose dim {j} holds "
                f"the {own} of the {format_dims(shape)} scores (their dim {wanted}); "
                f"{'the ' + call.name if call.name in MASKING_OPS else call_label(call)} {at_line(call)} aligns the "
                f"{format_shape(call.inputs[m])} mask with them from the right, so that dim lies along their "
                f"{named} (dim {faced}): the {named} get the masks of other {own}"
            )
            yield finding("ST029", placer, message, _hint(placer, j, faced, wanted))
    yield from transposed_padding_masks(trace)
