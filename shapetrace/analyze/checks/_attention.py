"""What ST001 needs to know about PyTorch's attention modules.

``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``/``TransformerEncoder``,
``nn.TransformerDecoderLayer``/``TransformerDecoder`` and ``nn.Transformer`` take
``batch_first`` (default False: ``(S, N, E)``), like an RNN: batch-major data into
a seq-first layer runs without a word, each sample attending over the other
samples at one position. The layer's layout is a :class:`Layout` like an RNN's,
with "time" the axis it attends over. (The recorder copies a transformer layer's
flag from its ``self_attn`` into its config, see ``record/module_info.py``.)

A key padding mask is ``(N, S)`` in both layouts (PyTorch's documentation), so its
dim 0 tells which axis the code that built it takes as the batch. Where N != S a
mask of the other layout makes PyTorch raise (``Expected key_padded_mask.shape[0]
to be 5, but got 8``), where they are equal it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shapetrace.analyze.checks._common import at_line, pass_root
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.lineage.atoms import axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape

# The input whose (S, N, E) layout the flag sets, by position or by name.
ATTENTION_INPUTS = {
    "MultiheadAttention": ("0", "query"),
    "TransformerEncoderLayer": ("0", "src"),
    "TransformerEncoder": ("0", "src"),
    "TransformerDecoderLayer": ("0", "tgt"),
    "TransformerDecoder": ("0", "tgt"),
    "Transformer": ("0", "src"),
}
# Where the flag is set: the module itself, or the layer a stack is built from.
FLAG_OWNER = {"TransformerEncoder": "TransformerEncoderLayer", "TransformerDecoder": "TransformerDecoderLayer"}

_DECODER_MASKS = {
    "tgt_key_padding_mask": ("4", ("0", "tgt")),
    "memory_key_padding_mask": ("5", ("1", "memory")),
}
# mask name: (its position, the input (position, name) whose (N, S) it masks)
_MASKS: dict[str, dict[str, tuple[str, tuple[str, str]]]] = {
    "MultiheadAttention": {"key_padding_mask": ("3", ("1", "key"))},
    "TransformerEncoderLayer": {"src_key_padding_mask": ("2", ("0", "src"))},
    "TransformerEncoder": {"src_key_padding_mask": ("2", ("0", "src"))},
    "TransformerDecoderLayer": _DECODER_MASKS,
    "TransformerDecoder": _DECODER_MASKS,
    "Transformer": {
        "src_key_padding_mask": ("5", ("0", "src")),
        "tgt_key_padding_mask": ("6", ("1", "tgt")),
        "memory_key_padding_mask": ("7", ("0", "src")),
    },
}


def is_attention(call: Call) -> bool:
    return is_builtin(call) and call.type in ATTENTION_INPUTS


def _input(call: Call, paths: Sequence[str]) -> TensorMeta | None:
    return next((meta for path in paths if (meta := call.input_at(path)) is not None), None)


def attention_layout(flow: TraceLineage, call: Call, paths: Sequence[str] = ()) -> Layout | None:
    """The layout of an attention call on a 3-d input whose batch and sequence are one axis each:
    the input its flag sets (``ATTENTION_INPUTS``), or the one at ``paths`` (position, name)."""
    meta = _input(call, paths or ATTENTION_INPUTS.get(call.type, ()))
    if not is_attention(call) or meta is None or meta.ndim != 3 or "batch_first" not in call.config:
        return None
    lineage = flow.input_lineage(call, call.inputs.index(meta))
    batch_dim = 0 if call.config.get("batch_first") else 1
    batch, time = lineage[batch_dim], lineage[1 - batch_dim]
    # One axis each, or several merged (image tokens: H * W), never sharing one.
    if not batch or not time or axes(batch) & axes(time):
        return None
    return Layout(call, meta, batch_dim, batch, time)


def first_attention_layouts(flow: TraceLineage, calls: Sequence[Call]) -> Iterator[Layout]:
    """The layout of the first call of each outermost attention module in each
    forward pass: the layers inside a TransformerEncoder share its flag and its data."""
    seen: set[tuple[int, str]] = set()
    for call in calls:
        if not is_attention(call) or _inside_attention(call):
            continue
        key = (pass_root(call).id, call.name)
        lay = attention_layout(flow, call) if key not in seen else None
        seen.add(key)
        if lay is not None:
            yield lay


def _inside_attention(call: Call) -> bool:
    node = call.parent
    while node is not None:
        if is_attention(node):
            return True
        node = node.parent
    return False


def padding_masks(call: Call) -> Iterator[tuple[str, TensorMeta, TensorMeta, str]]:
    """``(name, mask, partner, partner's name)`` for each key padding mask passed to an
    attention module, 2-D, with the 3-D input whose (N, S) it masks."""
    for name, (position, partner_paths) in _MASKS.get(call.type, {}).items():
        mask = _input(call, (name, position))
        partner = _input(call, partner_paths)
        if mask is not None and partner is not None and mask.ndim == 2 and partner.ndim == 3:
            yield name, mask, partner, partner_paths[1]


def mask_readings(flow: TraceLineage, lay: Layout) -> Iterator[tuple[bool, str]]:
    """``(swapped, text)`` for each key padding mask passed: its dim 0 is the batch
    (N) in both layouts; by lineage, is it the batch or the sequence of the input it masks?"""
    call = lay.call
    batch_dim = lay.batch_dim
    for name, mask, partner, partner_name in padding_masks(call):
        rows = flow.input_lineage(call, call.inputs.index(mask))[0]
        masked = flow.input_lineage(call, call.inputs.index(partner))
        batch, sequence = masked[batch_dim], masked[1 - batch_dim]
        if not rows or not batch or not sequence:
            continue
        what = f"{name} {format_shape(mask)} {at_line(call)}"
        if axes(rows) == axes(sequence):
            yield (
                True,
                f"{what} is (N, S) in both layouts, and its dim 0 (N) is by lineage the axis the "
                f"{call.type} attends over, dim {1 - batch_dim} of its {partner_name} {format_shape(partner)}",
            )
        elif axes(rows) == axes(batch):
            yield False, f"{what} takes its batch axis as N"


def flag_text(call: Call, wanted: bool, subject: str = "") -> str:
    """``build it with nn.TransformerEncoderLayer(..., batch_first=True)``: where the flag
    is set; ``subject`` names the module (``build encoder's layers with ...``)."""
    owner = FLAG_OWNER.get(call.type)
    if owner is None:
        return f"build {subject or 'it'} with nn.{call.type}(..., batch_first={wanted})"
    if subject:
        return f"build the layers {subject} stacks with nn.{owner}(..., batch_first={wanted})"
    return f"build it with nn.{owner}(..., batch_first={wanted}) (the layer its nn.{call.type} stacks)"
