"""The table of ``shapetrace diff``."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.analyze.trace_diff import CallChange
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import dtype_name
from shapetrace.core.text import format_location, format_op, format_shape


def _label(call: Call) -> str:
    if call.kind == "op":
        owner = call.parent.name if call.parent is not None and call.parent.name else "(root)"
        return f"{owner} {format_op(call)}"
    name = call.name or f"{call.type} (root)"
    return f"{name} #{call.index + 1}" if call.index else name


def _tensors(call: Call | None) -> str:
    if call is None:
        return "—"
    return "\n".join(f"{format_shape(m)} {dtype_name(m.dtype)} {m.device}" for m in call.outputs) or "(no tensor)"


def diff_report(changes: Sequence[CallChange], before_name: str, after_name: str) -> RenderableType:
    if not changes:
        return Text(
            f"no differences in shapes, dtypes or devices between {before_name} and {after_name}", style="green"
        )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Call", no_wrap=True)
    table.add_column("Changed", style="bold yellow", no_wrap=True)
    for name in (before_name, after_name):
        cells = [_tensors(change.before if name == before_name else change.after) for change in changes]
        widest = max(len(line) for cell in cells for line in cell.split("\n"))
        table.add_column(f"Outputs in {name}", overflow="fold", min_width=widest)
    table.add_column("Line", style="dim", overflow="fold")  # a long path wraps, never cut
    for change in changes:
        call = change.after or change.before
        assert call is not None
        table.add_row(
            _label(call),
            ", ".join(change.what),
            _tensors(change.before),
            _tensors(change.after),
            format_location(call.location),
        )
    title = Text(
        f"{len(changes)} call{'s' * (len(changes) != 1)} differ between {before_name} and {after_name}",
        style="bold red",
    )
    return Group(title, table)
