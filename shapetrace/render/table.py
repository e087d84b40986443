"""The table view: one row per call, indented by depth like torchinfo; the
steps of a loop (calls of one module or op from one line, alike) share a row
(``lstm1: LSTMCell ×1999``)."""

from __future__ import annotations

import os

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from shapetrace.core.records import Call
from shapetrace.core.text import (
    device_label,
    dtype_label,
    format_count,
    format_location,
    format_op,
    notebook_cell,
)
from shapetrace.core.trace import Trace
from shapetrace.render.marks import NON_CONTIGUOUS, folded_shapes
from shapetrace.render.passes import inner_row, pass_groups, pass_row, pinned_calls, row_shapes
from shapetrace.render.sections import DataTransform, made_before, split_sections
from shapetrace.render.structure import (
    Row,
    is_shown,
    merged_name,
    relative_name,
    repeat_mark,
    repeated_runs,
    shown_children,
)
from shapetrace.render.table_fit import NameOverLine, Trimmed, fit_columns

__all__ = [
    "NON_CONTIGUOUS",
    "TraceTable",
    "build_table",
    "call_label",
    "folded_transforms",
    "row_location",
    "table_rows",
    "table_sections",
    "trace_table",
    "uniform",
    "visible_calls",
]


def visible_calls(trace: Trace, *, ops: bool = True, depth: int | None = None) -> list[Call]:
    """The calls a view shows: ops optional, nothing deeper than ``depth``."""
    return [c for c in trace.calls if (ops or c.kind == "module") and (depth is None or c.depth <= depth)]


def table_rows(trace: Trace, *, ops: bool = True, depth: int | None = None, fold: bool = True) -> list[list[Call]]:
    """The calls of ``visible_calls``, each row a list: one call, or with
    ``fold`` a ``Row``: the steps of a loop, a run of identical blocks, passes
    at other batch sizes, at the place of the first, with the calls they hold
    alike (first call first), section by section (``table_sections``)."""
    if not fold:
        return [[call] for call in visible_calls(trace, ops=ops, depth=depth)]
    return [row for rows, _ in table_sections(trace, ops=ops, depth=depth) for row in rows]


def table_sections(
    trace: Trace, *, ops: bool = True, depth: int | None = None
) -> list[tuple[list[list[Call]], DataTransform | None]]:
    """The rows of each section (``render/sections.py``): a model's section,
    the models with the most parameters first, with ``None``; then one row
    for each data transform, all its calls folded, with that transform.
    Each row is a ``Row``: the steps of a loop and a run of identical blocks
    (``repeated_runs``) share one, and so do the passes of other batch sizes
    (``render/passes.py``), unless a finding or an error is in a call
    (``pinned_calls``)."""
    memo: dict = {}
    alone = pinned_calls(trace)

    def add(rows: list[list[Call]], aligned: list[list[Call]], starts: tuple[int, ...], passes: int) -> None:
        # aligned[0]: calls shown under the row's first call; aligned[k]: the same under its k-th call;
        # starts: where in aligned each pass of another batch size begins (passes: see inner_row).
        position = {call.id: p for p, call in enumerate(aligned[0])}
        for group in repeated_runs(aligned[0], ops=ops, depth=depth, memo=memo, alone=alone):
            spots = [position[call.id] for call in group]
            row = inner_row(aligned, spots, starts, passes)
            rows.append(row)
            add(
                rows,
                [shown_children(calls[p], ops=ops, depth=depth) for calls in aligned for p in spots],
                row.starts,
                passes,
            )

    parts = split_sections(trace)
    found: list[tuple[list[list[Call]], DataTransform | None]] = []
    before = made_before(trace)
    for section in parts.models:
        rows: list[list[Call]] = []
        roots = [call for call in section.roots if is_shown(call, ops=ops, depth=None) and call.id not in before]
        for entry in pass_groups(roots, ops=ops, depth=depth, memo=memo, alone=alone):
            row = pass_row(entry, parts.stands_for, parts.uncounted)
            rows.append(row)
            add(rows, [shown_children(call, ops=ops, depth=depth) for call in row], row.starts, len(row.first_variant))
        if rows:
            found.append((rows, None))
    found += [([Row(transform.calls)], transform) for transform in parts.transforms]
    return found


def call_label(call: Call, run: list[Call] | None = None, *, relative: bool = False) -> Text:
    """``  └─ encoder.layers.0: TransformerEncoderLayer``; with ``relative`` the
    name within the row above it, as the tree writes it (``layers.0``)."""
    indent = "  " * call.depth + ("└─ " if call.depth else "")
    if call.kind == "op":
        return Text.assemble(indent, (format_op(call), "cyan"), (repeat_mark(run) if run else "", "dim"))
    if call.parent_id is None and call.name == "":
        title = Text.assemble(indent, (call.type, "bold"), (" (root)", "dim"))
    else:
        members = run.first_pass if isinstance(run, Row) else (run or [call])
        name = merged_name([relative_name(member) if relative else member.name for member in members])
        title = Text.assemble(indent, (name, "bold"), (f": {call.type}", "dim"))
    mark = repeat_mark(run) if run else ""
    if mark:
        title.append(mark, "dim")
    elif call.index:
        title.append(f" #{call.index + 1}", "dim")
    return title


def _contiguity(call: Call) -> Text:
    """Marks only the non-contiguous outputs: the exception is what matters."""
    return Text(
        "\n".join(
            NON_CONTIGUOUS if any(not m.contiguous for m in metas) else ""
            for _, metas in folded_shapes(call, call.outputs, with_marks=False)
        ),
        "bold yellow",
    )


def _dtype_cell(call: Call) -> str:
    """``float32``, or ``int64 → float32`` where a call changes the dtype (an Embedding)."""
    into, out = dtype_label(call.inputs), dtype_label(call.outputs)
    return f"{into} → {out}" if into and out and into != out else out or into


def uniform(trace: Trace, field: str) -> str | None:
    """The one dtype or device every tensor shares, or None when they differ."""
    values = {getattr(m, field) for c in trace.calls for m in (*c.inputs, *c.outputs)}
    if len(values) != 1:
        return None
    value = values.pop()
    return dtype_label([m for c in trace.calls for m in c.outputs][:1]) if field == "dtype" else str(value)


def _shapes_column(table: Table, title: str, cells: list[str], *, wrap: bool) -> None:
    # Shapes are the point of the table: never truncate them. Stacked under their
    # names (``memory_key_padding_mask``), the names fold before a shape does.
    widest = max((len(line) for cell in cells for line in cell.split("\n")), default=0)
    if wrap:
        shapes = [line for cell in cells for line in cell.split("\n") if "(" in line]
        table.add_column(title, overflow="fold", min_width=max(map(len, shapes), default=min(widest, 12)))
    else:
        table.add_column(title, no_wrap=True, min_width=max(widest, len(title)))


def _words_column(table: Table, title: str, cells: list[str], *, wrap: bool) -> None:
    if wrap:  # between words only: fit_columns keeps the longest word (``float32``) whole
        table.add_column(title)
    else:
        table.add_column(title, no_wrap=True, min_width=max((len(cell) for cell in cells), default=len(title)))


# How the table gives way on a narrow terminal, in this order: the path of
# the Line column is shortened from the left, then cut to the file's name,
# then the line moves under the call's name, then a module is named within
# the row above it (``layers.0`` under ``encoder``, as the tree names it) and
# dtypes wrap between words, then shapes stack and wrap, and a call's name
# wraps too. A file:line, a finding code, a header and a number are never cut.
LAYOUTS: tuple[str, ...] = ("path", "name", "under", "short", "wrap")
_UNDER = ("under", "short", "wrap")
_MAX_PATH = 40


def short_location(call: Call, layout: str) -> str:
    """``demos/lstm_forecaster.py:32``; ``…/lstm_forecaster.py:32`` past 40
    characters; ``lstm_forecaster.py:32`` in the narrow layouts."""
    location = call.location
    if location is None:
        return ""
    text = format_location(location)
    if layout != "path" and notebook_cell(location.filename) is None:
        return f"{os.path.basename(location.filename)}:{location.lineno}"
    if len(text) > _MAX_PATH:
        text = "…" + text[len(text) - _MAX_PATH + 1 :]
    return text


def row_location(run: list[Call], layout: str) -> str:
    """``short_location`` of the row's first call; where it folds passes of other
    batch sizes made at other lines (an evaluation loop), each line once:
    ``mnist.py:40, 48``."""
    calls = run.variants if isinstance(run, Row) else run[:1]
    places = list(dict.fromkeys(short_location(call, layout) for call in calls))
    if len(places) == 1:
        return places[0]
    file = places[0].rpartition(":")[0]
    if all(place.rpartition(":")[0] == file for place in places):
        return places[0] + "".join(", " + place.rpartition(":")[2] for place in places[1:])
    return ", ".join(places)


def caption_text(trace: Trace) -> str:
    """What the report's header says of every tensor: ``every tensor float32 on cpu``."""
    common = [value for value in (uniform(trace, "dtype"), uniform(trace, "device")) if value]
    return f"every tensor {' on '.join(common)}" if common else ""


class TraceTable:
    """The table, fitted to the console (see ``LAYOUTS``); with ``caption``
    it carries the header's facts, so ``rich.print(t.table())`` loses nothing."""

    def __init__(self, trace: Trace, *, ops: bool = True, depth: int | None = None, caption: bool = True) -> None:
        self.trace, self.ops, self.depth, self.caption = trace, ops, depth, caption

    def build(self, layout: str = "path") -> Table:
        table = build_table(self.trace, ops=self.ops, depth=self.depth, layout=layout)
        if self.caption:
            table.caption = caption_text(self.trace) or None
            table.caption_justify = "left"
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for layout in LAYOUTS:
            table = self.build(layout)
            unclamped = options.update(max_width=10_000)  # Measurement clamps to the width it is given
            if Measurement.get(console, unclamped, table).minimum <= options.max_width:
                break
        fit_columns(table, console, options)
        yield Trimmed(table)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.build("wrap"))


def trace_table(trace: Trace, *, ops: bool = True, depth: int | None = None, caption: bool = True) -> TraceTable:
    return TraceTable(trace, ops=ops, depth=depth, caption=caption)


def _stacked(labelled: str, contiguous: bool) -> str:
    """``output (5, 30, 64)`` as ``output`` over ``(5, 30, 64)``, then ``non-contig``."""
    label, found, shape = labelled.partition(" (")
    lines = [label, "(" + shape] if found and label else [labelled]
    return "\n".join(lines if contiguous else [*lines, NON_CONTIGUOUS])


def build_table(trace: Trace, *, ops: bool = True, depth: int | None = None, layout: str = "path") -> Table:
    """The rows of ``table_rows``; dtype and device get columns only when they vary."""
    findings_by_call: dict[int, list[str]] = {}
    for finding in trace.findings:
        if finding.call_id is not None:
            findings_by_call.setdefault(finding.call_id, []).append(finding.code)
    sections = table_sections(trace, ops=ops, depth=depth)
    rows = [row for section_rows, _ in sections for row in section_rows]
    folded = {i: t for i, t in enumerate(_row_transforms(sections)) if t is not None}
    starts = _section_starts(sections)
    calls = [row[0] for row in rows]
    show_line = layout in ("path", "name")
    wrap = layout == "wrap"
    shapes_in = [row_shapes(run, output=False) for run in rows]
    shapes_out = [row_shapes(run, output=True) for run in rows]
    if wrap:  # name, shape and mark on lines of their own; the mark leaves its column
        inputs = ["\n".join(_stacked(text, True) for text, _ in shapes) for shapes in shapes_in]
        outputs = ["\n".join(_stacked(text, contiguous) for text, contiguous in shapes) for shapes in shapes_out]
    else:
        inputs = ["\n".join(text for text, _ in shapes) for shapes in shapes_in]
        outputs = ["\n".join(text for text, _ in shapes) for shapes in shapes_out]
    show_dtype, show_device = uniform(trace, "dtype") is None, uniform(trace, "device") is None
    show_contig = not wrap and any(not m.contiguous for c in calls for m in c.outputs)
    labels = [_call_cell(run, layout, folded.get(i)) for i, run in enumerate(rows)]
    params = [format_count(c.num_params) if c.kind == "module" and c.num_params else "" for c in calls]
    codes = [
        ", ".join(dict.fromkeys(code for member in run for code in findings_by_call.get(member.id, ()))) for run in rows
    ]

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    if wrap:  # the name gives way before a number (fit_columns narrows names last), its line number never
        narrowest = [label.narrowest for label in labels if isinstance(label, NameOverLine)]
        table.add_column("Call", overflow="fold", min_width=max(narrowest, default=4))
    else:
        widest_label = max((len(line) for label in labels for line in str(label).split("\n")), default=4)
        table.add_column("Call", no_wrap=True, min_width=widest_label)
    if show_line:
        table.add_column(
            "Line",
            style="dim",
            no_wrap=True,
            min_width=max((len(row_location(run, layout)) for run in rows), default=4),
        )
    _shapes_column(table, "Input shape", inputs, wrap=wrap)
    _shapes_column(table, "Output shape", outputs, wrap=wrap)
    dtypes = [_dtype_cell(c) for c in calls] if show_dtype else []
    devices = [device_label(c.outputs or c.inputs) for c in calls] if show_device else []
    # A no_wrap column measures as narrow as its shortest word, yet renders whole or cut
    # (``float32, int64 → float…``): its widest cell is its minimum, so the layouts above
    # are tried against the width the table really takes.
    # On the narrowest layout they wrap between words (``float32, int64 →`` over ``float32``).
    if show_dtype:
        _words_column(table, "dtype", dtypes, wrap=layout in ("short", "wrap"))
    if show_device:
        _words_column(table, "device", devices, wrap=layout in ("short", "wrap"))
    if show_contig:
        table.add_column("contig", no_wrap=True, min_width=len(NON_CONTIGUOUS))
    table.add_column("Params", justify="right", no_wrap=True, min_width=max(map(len, params), default=6))
    if findings_by_call:
        # Codes wrap between each other, never inside one.
        table.add_column("Findings", style="bold red", overflow="fold", min_width=len("Findings"))

    for i, (run, label, input_cell, output_cell, param, code) in enumerate(
        zip(rows, labels, inputs, outputs, params, codes)
    ):
        call = run[0]
        if i in starts:
            table.add_section()
        output_text = Text(output_cell)
        if call.error is not None:
            output_text = Text(f"✗ {call.error.split(':')[0]}", style="bold red")
        row: list[RenderableType] = [label]
        if show_line:
            row.append(row_location(run, layout))
        row += [Text(input_cell), output_text]  # a label is source text: x[t] is no markup
        if show_dtype:
            row.append(dtypes[i])
        if show_device:
            row.append(devices[i])
        if show_contig:
            row.append(_contiguity(call))
        row.append(param)
        if findings_by_call:
            row.append(code)
        table.add_row(*row, style="dim" if call.kind == "op" else None)
    return table


def folded_transforms(trace: Trace, *, ops: bool = True, depth: int | None = None) -> dict[int, DataTransform]:
    """First call id -> the data transform, for the rows of ``table_rows`` that fold one."""
    return {
        rows[0][0].id: transform
        for rows, transform in table_sections(trace, ops=ops, depth=depth)
        if transform is not None
    }


def _row_transforms(sections: list[tuple[list[list[Call]], DataTransform | None]]) -> list[DataTransform | None]:
    """For each row, the data transform it folds, or None."""
    return [transform for rows, transform in sections for _ in rows]


def _section_starts(sections: list[tuple[list[list[Call]], DataTransform | None]]) -> set[int]:
    """The rows that open a section after the first: a line goes above each.
    The data transforms share one section."""
    starts, at = set(), 0
    previous: DataTransform | None = None
    for rows, transform in sections:
        if at and not (transform is not None and previous is not None):
            starts.add(at)
        at += len(rows)
        previous = transform
    return starts


def _call_cell(run: list[Call], layout: str, transform: DataTransform | None = None) -> Text | NameOverLine:
    """The call's name; in the narrow layouts its ``file:line`` under it (in
    the narrowest, fitted to the column: ``NameOverLine``).
    A data transform's row: ``Normalize ×48 (data transform)``."""
    call = run[0]
    if transform is not None:
        label = Text.assemble((transform.type, "bold"), (f" ×{transform.count}" if transform.count > 1 else "", "dim"))
        label.append(" (data transform)", "dim")
    else:
        label = call_label(call, run, relative=layout in ("short", "wrap"))
    if layout in _UNDER and call.location is not None:
        indent = "  " * call.depth + ("   " if call.depth else "")
        if layout == "wrap":
            return NameOverLine(label, row_location(run, layout), len(indent))
        label.append(f"\n{indent}{row_location(run, layout)}", "dim")
    return label
