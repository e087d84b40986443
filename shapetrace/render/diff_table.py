"""The table of ``shapetrace diff``: one row per changed input or output.

Each row names the tensor (``in``, ``out``, ``out h_n``...) and shows only
what changed: the shape when it changed, with the changed dims marked
``*64*`` (bold in colour; the asterisks stay where colour is off, as under
``NO_COLOR`` or in a file), the dtype, device or layout when they changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.analyze.trace_diff import CallChange, TensorChange
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.core.text import format_location, format_op
from shapetrace.render.table_fit import Trimmed

MARK = "*"  # around a changed dim: *64*
_CHANGED = "bold yellow"
_ABSENT = "—"


def _label(call: Call) -> str:
    if call.kind == "op":
        owner = call.parent.name if call.parent is not None and call.parent.name else "(root)"
        return f"{owner} {format_op(call)}"
    name = call.name or f"{call.type} (root)"
    return f"{name} #{call.index + 1}" if call.index else name


def marked_shape(shape: Sequence[int], dims: Sequence[int]) -> Text:
    """``(5, 30, *64*)``: the dims at ``dims`` marked and styled."""
    text = Text("(")
    for position, size in enumerate(shape):
        if position:
            text.append(", ")
        if position in dims:
            text.append(f"{MARK}{size}{MARK}", _CHANGED)
        else:
            text.append(str(size))
    text.append(",)" if len(shape) == 1 else ")")
    return text


def tensor_cell(meta: TensorMeta | None, change: TensorChange) -> Text:
    """One side of a changed tensor: only the fields in ``change.fields``
    (all of them for a tensor the other side lacks)."""
    if meta is None:
        return Text(_ABSENT, style="dim")
    whole = change.fields in (("added",), ("removed",))
    parts: list[Text] = []
    if whole or "shape" in change.fields:
        parts.append(marked_shape(meta.shape, change.dims))
    if whole or "dtype" in change.fields:
        parts.append(Text(dtype_name(meta.dtype), "" if whole else _CHANGED))
    if whole or "device" in change.fields:
        parts.append(Text(str(meta.device), "" if whole else _CHANGED))
    if "layout" in change.fields or (whole and meta.layout != "strided"):
        parts.append(Text(meta.layout, "" if whole else _CHANGED))
    return Text(" ").join(parts)


def _side(change: TensorChange) -> str:
    return f"{change.side} {change.name}".strip()


def diff_report(changes: Sequence[CallChange], before_name: str, after_name: str) -> RenderableType:
    """The title line and the table of ``changes`` (from ``diff_traces``), or one line when there are none."""
    if not changes:
        return Text(
            f"no differences in shapes, dtypes or devices between {before_name} and {after_name}", style="green"
        )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # On a narrow terminal the call's name and the path wrap, never cut (a
    # cropped row would lose the line number); a shape wraps between dims.
    table.add_column("Call", overflow="fold")
    table.add_column("In/Out")
    for name in (before_name, after_name):
        table.add_column(name)
    table.add_column("Line", style="dim", overflow="fold", min_width=8)
    for change in changes:
        call = change.after or change.before
        assert call is not None
        label = _label(call) + ("" if change.before and change.after else f" ({change.what[0]})")
        place = format_location(call.location)
        rows = change.tensors or (TensorChange("out", "", None, None, change.what),)
        for number, tensor in enumerate(rows):
            table.add_row(
                label if number == 0 else "",
                _side(tensor) if change.tensors else "",
                tensor_cell(tensor.before, tensor),
                tensor_cell(tensor.after, tensor),
                place if number == 0 else "",
            )
    title = Text(
        f"{len(changes)} call{'s differ' if len(changes) != 1 else ' differs'} between {before_name} and {after_name}",
        style="bold red",
    )
    return Trimmed(Group(title, table))
