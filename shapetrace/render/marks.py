"""Shapes with the marks every view puts after them (``non-contig``)."""

from __future__ import annotations

from collections.abc import Sequence

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape, labelled_shapes
from shapetrace.render.table import NON_CONTIGUOUS


def marks(meta: TensorMeta) -> str:
    """`` non-contig`` after a non-contiguous tensor: ``.view`` on it fails."""
    return "" if meta.contiguous else f" {NON_CONTIGUOUS}"


def marked_shape(meta: TensorMeta) -> str:
    """``(5, 1) non-contig``."""
    return format_shape(meta) + marks(meta)


def marked_shapes(call: Call, metas: Sequence[TensorMeta], *, output: bool = True) -> list[str]:
    """``labelled_shapes`` with the marks: ``output (5, 30, 64) non-contig``."""
    return [label + marks(meta) for label, meta in zip(labelled_shapes(call, metas, output=output), metas)]
