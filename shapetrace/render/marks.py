"""Shapes with the marks every view puts after them (``non-contig``), and
long lists of alike tensors folded (``1999 × (3, 1)``)."""

from __future__ import annotations

from collections.abc import Sequence

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape, labelled_shapes, tensor_name
from shapetrace.render.source.names import forward_input_name

NON_CONTIGUOUS = "non-contig"

# Fewer alike tensors than this stay listed one by one (``chunk(3)``'s three outputs).
FOLD_AT = 4


def marks(meta: TensorMeta) -> str:
    """`` non-contig`` after a non-contiguous tensor: ``.view`` on it fails."""
    return "" if meta.contiguous else f" {NON_CONTIGUOUS}"


def marked_shape(meta: TensorMeta) -> str:
    """``(5, 1) non-contig``."""
    return format_shape(meta) + marks(meta)


def marked_shapes(
    call: Call, metas: Sequence[TensorMeta], *, output: bool = True, with_marks: bool = True
) -> list[str]:
    """``labelled_shapes`` with the marks: ``output (5, 30, 64) non-contig``;
    a run of unnamed alike tensors (``torch.cat(outputs)``'s 1,999 inputs)
    folded into one ``1999 × (3, 1)``."""
    return [text for text, _ in folded_shapes(call, metas, output=output, with_marks=with_marks)]


def folded_shapes(
    call: Call, metas: Sequence[TensorMeta], *, output: bool = True, with_marks: bool = True
) -> list[tuple[str, list[TensorMeta]]]:
    """Each label with the tensors it stands for: one, or a folded run of
    ``FOLD_AT`` or more consecutive tensors with one shape (and marks) that
    PyTorch gives no names (``split``'s outputs, a list passed to ``cat``)."""
    names = [tensor_name(call, meta, output=output) for meta in metas]
    if not output:  # the forward's own names: src, tgt; hx[0] inside a tuple
        names = [
            forward_input_name(call, meta.path, None if name == meta.path else name) or name
            for name, meta in zip(names, metas)
        ]
    labels = labelled_shapes(call, metas, output=output, names=names)
    unnamed = [name == meta.path and meta.path.rsplit(".", 1)[-1].isdigit() for name, meta in zip(names, metas)]
    found: list[tuple[str, list[TensorMeta]]] = []
    start = 0
    while start < len(metas):
        end = start + 1
        if unnamed[start]:
            shape = marked_shape(metas[start])
            while (
                end < len(metas)
                and unnamed[end]
                and marked_shape(metas[end]) == shape
                and _parent_path(metas[end]) == _parent_path(metas[start])
            ):
                end += 1
        if end - start >= FOLD_AT:
            meta = metas[start]
            found.append(
                (
                    f"{end - start} × " + (marked_shape(meta) if with_marks else format_shape(meta)),
                    list(metas[start:end]),
                )
            )
        else:
            found += [(labels[k] + (marks(metas[k]) if with_marks else ""), [metas[k]]) for k in range(start, end)]
        start = end
    return found


def _parent_path(meta: TensorMeta) -> str:
    return meta.path.rpartition(".")[0]
