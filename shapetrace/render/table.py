"""The table view: one row per call, indented by depth like torchinfo."""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ..records import Call
from ..trace import Trace
from .format import device_label, dtype_label, format_count, format_location, format_op, labelled_shapes

NON_CONTIGUOUS = "non-contig"


def visible_calls(trace: Trace, *, ops: bool = True, depth: int | None = None) -> list[Call]:
    """The calls a view shows: ops optional, nothing deeper than ``depth``."""
    return [c for c in trace.calls
            if (ops or c.kind == "module") and (depth is None or c.depth <= depth)]


def call_label(call: Call) -> Text:
    indent = "  " * call.depth + ("└─ " if call.depth else "")
    if call.kind == "op":
        return Text.assemble(indent, (format_op(call), "cyan"))
    if call.parent_id is None and call.name == "":
        title = Text.assemble(indent, (call.type, "bold"), (" (root)", "dim"))
    else:
        title = Text.assemble(indent, (call.name, "bold"), (f": {call.type}", "dim"))
    if call.index:
        title.append(f" #{call.index + 1}", "dim")
    return title


def _contiguity(call: Call) -> Text:
    marks = Text()
    for i, meta in enumerate(call.outputs):
        if i:
            marks.append("\n")
        marks.append(*(("yes", "dim") if meta.contiguous else (NON_CONTIGUOUS, "bold yellow")))
    return marks


def trace_table(trace: Trace, *, ops: bool = True, depth: int | None = None) -> Table:
    findings_by_call: dict[int, list[str]] = {}
    for finding in trace.findings:
        if finding.call_id is not None:
            findings_by_call.setdefault(finding.call_id, []).append(finding.code)

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Call", no_wrap=True)
    table.add_column("Line", style="dim", no_wrap=True)
    table.add_column("Input shape", no_wrap=True)
    table.add_column("Output shape", no_wrap=True)
    table.add_column("dtype", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("contig", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    if findings_by_call:
        table.add_column("Findings", style="bold red", no_wrap=True)

    for call in visible_calls(trace, ops=ops, depth=depth):
        outputs = Text("\n".join(labelled_shapes(call, call.outputs)))
        if call.error is not None:
            outputs = Text(f"✗ {call.error.split(':')[0]}", style="bold red")
        row: list[RenderableType] = [
            call_label(call),
            format_location(call.location),
            "\n".join(labelled_shapes(call, call.inputs, output=False)),
            outputs,
            dtype_label(call.outputs or call.inputs),
            device_label(call.outputs or call.inputs),
            _contiguity(call),
            format_count(call.params) if call.kind == "module" and call.params else "",
        ]
        if findings_by_call:
            row.append(", ".join(findings_by_call.get(call.id, ())))
        table.add_row(*row, style="dim" if call.kind == "op" else None)
    return table
