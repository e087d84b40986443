"""Inputs that one ``batch_first`` reads together: ST001's evidence on one is evidence on all.

- ``nn.Transformer`` reads ``src`` and ``tgt`` with its one flag. Its layout is that of
  ``src`` (``_attention.py``), while a next-token model shows its clues on ``tgt``
  (``tgt[:, :-1]`` against ``tgt[:, 1:]``, the output, which follows ``tgt``): where
  source and target have one length, batch-first data into a seq-first Transformer
  runs without a word, so ``tgt``'s clues must count for the layer too.
- A ``TransformerDecoder(Layer)`` reads an encoder's output as its ``memory`` in its own
  layout, pairing the memory's batch with the ``tgt``'s: where the memory is the
  encoder's output as it is (batch and sequence where the encoder left them, so both
  layers have one flag), what the data is on one side is what it is on the other, and
  a wrong flag on one is wrong on both. Each layer's own clues then count for the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

from shapetrace.analyze.checks._attention import attention_layout
from shapetrace.analyze.checks._clue import Clue
from shapetrace.analyze.checks._common import at_line, call_label
from shapetrace.analyze.checks._rnn import Layout
from shapetrace.analyze.lineage.atoms import axes
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.text import format_shape

_MEMORY = {"TransformerDecoder": ("1", "memory"), "TransformerDecoderLayer": ("1", "memory")}


def target_layout(flow: TraceLineage, lay: Layout) -> Layout | None:
    """The layout of an ``nn.Transformer``'s ``tgt``, read with the flag of its ``src``."""
    if lay.call.type != "Transformer":
        return None
    return attention_layout(flow, lay.call, ("1", "tgt"))


def target_clues(flow: TraceLineage, lay: Layout, clues_of: Callable[[Layout], list[Clue]]) -> Iterator[Clue]:
    """The clues on an ``nn.Transformer``'s ``tgt`` (``clues_of``: ST001's clues on a layout),
    said of its ``tgt``."""
    target = target_layout(flow, lay)
    if target is None:
        return
    for clue in clues_of(target):
        yield dataclasses.replace(clue, text=f"on its tgt {format_shape(target.input)}, {clue.text}")


def _memory_of(flow: TraceLineage, encoder: Layout, decoder: Layout) -> bool:
    """The decoder's memory is the encoder's output, batch and sequence where the decoder takes them."""
    position = next((p for p in _MEMORY.get(decoder.call.type, ()) if decoder.call.input_at(p) is not None), None)
    if position is None or encoder.call is decoder.call or not encoder.call.outputs:
        return False
    memory = decoder.call.input_at(position)
    source = flow.source(decoder.call, decoder.call.inputs.index(memory)) if memory is not None else None
    if source is None or source.as_input or source.call is not encoder.call or memory is None or memory.ndim != 3:
        return False
    lineage = flow.input_lineage(decoder.call, decoder.call.inputs.index(memory))
    batch, time = lineage[decoder.batch_dim], lineage[decoder.time_dim]
    return bool(batch) and axes(batch) == axes(encoder.batch) and axes(time) == axes(encoder.time)


def memory_pairs(flow: TraceLineage, layouts: Sequence[Layout]) -> Iterator[tuple[int, int]]:
    """``(i, j)``: ``layouts[i]``'s output is ``layouts[j]``'s memory, read in its layout."""
    for j, decoder in enumerate(layouts):
        if decoder.call.type not in _MEMORY:
            continue
        for i, encoder in enumerate(layouts):
            if _memory_of(flow, encoder, decoder):
                yield i, j


def handed_on(clues: Sequence[Clue], other: Layout, reader: bool) -> Iterator[Clue]:
    """The decisive clues of ``other`` (a layer reading this one's output as its memory when
    ``reader``, else the layer whose output this one reads as its memory), said of this one."""
    how = (
        f"its output is the memory of {call_label(other.call, 'batch_first')} {at_line(other.call)}, "
        if reader
        else f"its memory is the output of {call_label(other.call, 'batch_first')} {at_line(other.call)}, "
    )
    for clue in clues:
        if clue.swapped is not None:
            text = f"{how}read with the same batch axis, and there {clue.text}"
            yield dataclasses.replace(clue, text=text, op=None)


__all__ = ["handed_on", "memory_pairs", "target_clues", "target_layout"]
