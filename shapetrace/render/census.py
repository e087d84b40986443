"""The census of a dataset as the terminal shows it: one row per key and shape."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.analyze.census import BatchFacts, Census, KeyCensus
from shapetrace.core.text import format_dims


def census_report(census: Census, *, title: str = "") -> RenderableType:
    """A header, a table (key, shape, dtype, count, first index), hints and the batch facts.

    The first row of a key is its most common shape; a shape that few samples
    have is marked, with the index to look at first.
    """
    of = f" of {census.length:,}" if census.length is not None and census.length != census.scanned else ""
    header = Text.assemble(
        ("shapetrace data ", "bold"),
        (title, "bold cyan"),
        f": {census.scanned:,} samples scanned{of}, {len(census.keys)} key{'s' * (len(census.keys) != 1)}",
    )
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column, justify in (
        ("Key", "left"),
        ("Shape", "left"),
        ("dtype", "left"),
        ("Samples", "right"),
        ("First index", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    notes: list[Text] = []
    for key in census.keys:
        _add_key(table, key, census.scanned)
        notes += _key_notes(key)
    parts: list[RenderableType] = [header, table]
    if notes or census.batches is not None:
        parts.append(Text(""))
    parts += notes
    if census.batches is not None:
        parts += _batch_lines(census.batches, census.length)
    return Group(*parts)


def _add_key(table: Table, key: KeyCensus, scanned: int) -> None:
    if _is_variable(key):  # one row: the range of each varying axis (5-11,) rather than every length
        first = key.shapes[0]
        assert first.shape is not None
        dims = [
            f"{key.varying_axes[axis][0]}-{key.varying_axes[axis][1]}" if axis in key.varying_axes else str(size)
            for axis, size in enumerate(first.shape)
        ]
        shape = f"({', '.join(dims)}{',' * (len(dims) == 1)})"
        dtypes = ", ".join(dict.fromkeys(s.dtype for s in key.shapes))
        table.add_row(
            key.path or "(sample)",
            shape,
            dtypes,
            f"{sum(s.count for s in key.shapes):,}",
            str(min(s.first_index for s in key.shapes)),
        )
        return
    for row, count in enumerate(key.shapes):
        rare = row > 0 and count.count * 10 < scanned
        shape = "not a tensor" if count.shape is None else format_dims(count.shape)
        table.add_row(
            key.path or "(sample)" if row == 0 else "",
            Text(shape, "bold yellow" if rare else ""),
            count.dtype,
            f"{count.count:,}",
            str(count.first_index),
        )
    if key.missing:
        table.add_row("", Text("missing", "bold yellow"), "", f"{key.missing:,}", "")


def _key_notes(key: KeyCensus) -> list[Text]:
    label = key.path or "the sample"
    notes = []
    if _is_variable(key):
        ranges = ", ".join(f"axis {axis}: {low} to {high}" for axis, (low, high) in key.varying_axes.items())
        notes.append(
            Text(
                f"{label} has a variable length ({ranges}): pad it in a collate_fn "
                f"(torch.nn.utils.rnn.pad_sequence) or bucket samples by length"
            )
        )
    elif len(key.shapes) > 1:
        common = key.shapes[0]
        odd = ", ".join(
            f"{format_dims(s.shape) if s.shape else s.dtype} ×{s.count} (first at index {s.first_index})"
            for s in key.shapes[1:4]
        )
        notes.append(
            Text(
                f"{label}: {common.count:,} samples are {format_dims(common.shape) if common.shape else '-'}"
                f", but {odd}: the default collate cannot stack these",
                "yellow",
            )
        )
    return notes


def _is_variable(key: KeyCensus) -> bool:
    """Many shapes that differ in some axes only: a variable length, not odd samples."""
    total = sum(s.count for s in key.shapes)
    return bool(key.varying_axes) and len(key.shapes) > 2 and key.shapes[0].count * 2 <= total


def _batch_lines(batches: BatchFacts, length: int | None) -> list[Text]:
    lines = []
    total = f"{length:,} samples" if length is not None else "the samples"
    if batches.last_batch:
        fate = (
            "dropped (drop_last=True)"
            if batches.drop_last
            else "kept (drop_last=False): a model that bakes in the batch size fails on it"
        )
        lines.append(
            Text(
                f"batches: {total} in batches of {batches.batch_size} give {batches.num_batches} batches; "
                f"the last has {batches.last_batch}, {fate}"
            )
        )
    else:
        lines.append(
            Text(f"batches: {total} in batches of {batches.batch_size} give {batches.num_batches} full batches")
        )
    if batches.ranks:
        per_rank = ", ".join(
            f"rank {r.rank}: {r.num_samples} samples, {r.num_batches} batches"
            + (f" (last {r.last_batch})" if r.last_batch else "")
            for r in batches.ranks
        )
        lines.append(Text(f"DistributedSampler over {len(batches.ranks)} ranks: {per_rank}"))
        if len({r.num_batches for r in batches.ranks}) > 1:
            lines.append(
                Text("ranks run different numbers of batches: a collective would hang on the last one", "bold red")
            )
        if batches.padded:
            lines.append(
                Text(
                    f"the sampler repeats {batches.padded} samples so that every rank gets as many "
                    f"(drop_last=True on the sampler drops them instead)",
                    "dim",
                )
            )
    return lines
