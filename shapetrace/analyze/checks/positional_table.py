"""ST017 positional-table-on-batch: positions added along the batch axis.

The PyTorch tutorial's ``PositionalEncoding`` is seq-first: ``pe`` is
``(max_len, 1, d_model)`` and ``forward`` adds ``self.pe[:x.size(0)]``. Given a
batch-first ``x`` of ``(B, T, E)`` (a ``batch_first=True`` encoder), it cuts the
table to B rows and broadcasts them over T: each sample gets the encoding of one
position, the same at every step, and the model sees no order at all. It runs
whenever B <= max_len.

By lineage (``_positions.py``): a table born in the model (no axis from the data,
so not a per-sample conditioning such as a class or time-step embedding) varies
along the axis the attention layer it feeds takes as its batch, and has size 1
along the axis the layer attends over. That holds whatever the sizes, B == T
included. When the layer's own flag is what is wrong (the table and the layer
agree, the data does not), ST001 says so instead, its help moving the table too;
and when ST001 finds the flag wrong while the table agrees with the data (a
batch-first table before a layer left seq-first), the table is right: no ST017,
whose help would move it to the wrong axis.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._attention import first_attention_layouts
from shapetrace.analyze.checks._common import at_line, call_label, op_text
from shapetrace.analyze.checks._positions import positional_tables, table_edit
from shapetrace.analyze.checks.batch_first import check_batch_first
from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.core.finding import Finding
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace


@register(
    "ST017",
    "positional-table-on-batch",
    "warning",
    "a positional table (PositionalEncoding's pe) added along an attention layer's batch axis, "
    "the same at every position",
)
def check_positional_table(trace: Trace) -> Iterator[Finding]:
    flow = trace_lineage(trace)
    wrong_flag: set[int | None] | None = None
    for lay in first_attention_layouts(flow, trace.calls):
        for table in positional_tables(flow, lay):
            if table.on_time:
                continue
            if wrong_flag is None:
                wrong_flag = {found.call_id for found in check_batch_first(trace) if found.severity != "info"}
            if lay.call.id in wrong_flag:
                continue  # the data is batch-first and so is the table: the layer's flag is wrong (ST001)
            x, added = table.op.inputs[1 - table.index], table.op.inputs[table.index]
            edit = table_edit(flow, table, table.constant)
            layer = call_label(lay.call, "batch_first")
            what = (
                f"adds {format_shape(added)} along dim {table.along} of {format_shape(x)}, the batch axis of "
                f"{layer} {at_line(lay.call)}, and the same row at every position of dim {table.constant}, "
                f"the axis it attends over: each sample gets one position's encoding at every step"
            )
            if edit is not None:
                old, new, sliced = edit
                size = x.shape[table.along]
                message = (
                    f"{old} {at_line(sliced)} cuts a positional table to the {size} of dim {table.along} and {what}"
                )
                yield finding("ST017", sliced, message, f"use {new}: the table cut to the sequence, along it")
            else:
                message = f"{op_text(table.op)} {at_line(table.op)} {what}"
                hint = f"add the table along dim {table.constant} (the sequence), the same for every sample"
                yield finding("ST017", table.op, message, hint)
