"""The tree view: module calls with their shapes, for narrow terminals.

Each call takes two short lines (name and type, then ``inputs → outputs``)
instead of a table row, so the view fits 60 columns. Runs of identical
siblings are folded as in the graph (``layers.0-11 ×12``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from rich.tree import Tree

from shapetrace.core.records import Call
from shapetrace.core.text import format_count, format_op
from shapetrace.core.trace import Trace
from shapetrace.render.marks import NON_CONTIGUOUS
from shapetrace.render.passes import inner_row, pass_groups, pass_row, pinned_calls, row_shapes
from shapetrace.render.sections import Sections, split_sections
from shapetrace.render.structure import Row, is_shown, repeat_mark, repeated_runs, run_label, shown_children


def trace_tree(trace: Trace, *, ops: bool = False, depth: int | None = None, collapse: bool = True) -> Tree:
    """A ``rich.tree.Tree`` of the calls: what ``Trace.tree()`` returns (its
    docstring shows the forecaster's), with the options already validated."""
    codes: dict[int, list[str]] = {}
    calls = {call.id: call for call in trace.calls}
    for finding in trace.findings:
        call = calls.get(finding.call_id) if finding.call_id is not None else None
        # A finding on a call the tree leaves out (an op, a deep call) goes to its nearest shown parent.
        while call is not None and not is_shown(call, ops=ops, depth=depth):
            call = call.parent
        if call is not None:
            codes.setdefault(call.id, []).append(finding.code)
    # Several top-level calls (a model, then its loss) are siblings under a hidden root.
    # Section by section (render/sections.py): the models, most parameters first, then
    # each data transform folded into one entry with its count.
    tree = Tree("", guide_style="dim", hide_root=True)
    parts = split_sections(trace)
    builder = _TreeBuilder(ops, depth, collapse, codes, pinned_calls(trace), parts)
    for section in parts.models:
        builder.add_roots(tree, [call for call in section.roots if is_shown(call, ops=ops, depth=None)])
    for transform in parts.transforms:
        label = builder._label(transform.calls[0], list(transform.calls), Row(transform.calls))
        label.title = Text.assemble((transform.label, "bold"), (" (data transform)", "dim"))
        tree.add(label)
    return tree


class _TreeBuilder:
    def __init__(
        self,
        ops: bool,
        depth: int | None,
        collapse: bool,
        codes: dict[int, list[str]],
        alone: set[int],
        parts: Sections,
    ) -> None:
        self.ops, self.depth, self.collapse, self.codes = ops, depth, collapse, codes
        self.parts = parts  # the pass counts (Sections.stands_for, Sections.uncounted)
        self.memo: dict = {}
        self.alone = alone  # calls with a finding or an error in them: never folded into siblings

    def add_roots(self, branch: Tree, roots: Sequence[Call]) -> None:
        """A section's top-level calls; passes that differ only by batch size
        share one entry (``render/passes.py``), as in the table."""
        if not self.collapse:
            self.add(branch, [list(roots)])
            return
        for entry in pass_groups(roots, ops=self.ops, depth=self.depth, memo=self.memo, alone=self.alone):
            row = pass_row(entry, self.parts.stands_for, self.parts.uncounted)
            child = branch.add(self._label(row[0], entry[0], row))
            children = [shown_children(call, ops=self.ops, depth=self.depth) for call in row]
            self.add(child, children, row.starts, len(row.first_variant))

    def add(self, branch: Tree, aligned: list[list[Call]], starts: tuple[int, ...] = (0,), passes: int = 1) -> None:
        """``aligned[0]``: the calls under an entry's first call; ``aligned[k]`` the
        same under its k-th (a folded run's other members, passes of other batch
        sizes from ``starts`` on): their shapes join the entry's (``row_shapes``)."""
        calls = aligned[0]
        if self.collapse:
            runs = repeated_runs(calls, ops=self.ops, depth=self.depth, memo=self.memo, alone=self.alone)
        else:
            runs = [[c] for c in calls]
        position = {call.id: p for p, call in enumerate(calls)}
        for run in runs:
            spots = [position[call.id] for call in run]
            row = inner_row(aligned, spots, starts, passes)
            child = branch.add(self._label(run[0], run, row))
            self.add(
                child,
                [shown_children(members[p], ops=self.ops, depth=self.depth) for members in aligned for p in spots],
                row.starts,
                passes,
            )

    def _label(self, call: Call, run: list[Call], row: Row) -> _Label:
        if call.kind == "op":
            title = Text.assemble((format_op(call), "cyan"), (repeat_mark(run), "dim"))
        elif call.parent_id is None and not call.name:
            title = Text.assemble((call.type, "bold"), (" (root)", "dim"), (repeat_mark(row), "dim"))
        else:
            title = Text.assemble((run_label(run), "bold"), (f": {call.type}", "dim"))
        if call.kind == "module" and call.num_params:
            title.append(f"  {format_count(call.num_params)} params", "dim")
        codes = {code for member in run for code in self.codes.get(member.id, ())}
        if codes:
            title.append("  " + " ".join(sorted(codes)), "bold red")
        inputs = [_shape(text, contiguous) for text, contiguous in row_shapes(row, output=False)]
        if call.error is not None:
            outputs = [Text(f"✗ {call.error.split(':')[0]}", "bold red")]
        else:
            outputs = [_shape(text, contiguous) for text, contiguous in row_shapes(row, output=True)]
        return _Label(title, inputs, outputs)


def _shape(text: str, contiguous: bool) -> Text:
    """``(5, 1) non-contig``: the mark every view puts after a shape (``marks``)."""
    return Text(text if contiguous else f"{text} {NON_CONTIGUOUS}")


class _Label:
    """A call's title, then ``inputs → outputs`` wrapped between tensors,
    never inside a shape, to the width the tree leaves."""

    def __init__(self, title: Text, inputs: list[Text], outputs: list[Text]) -> None:
        self.title, self.inputs, self.outputs = title, inputs, outputs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.title
        width = options.max_width
        lines = _wrap(self.inputs, width, Text())
        arrow = Text("→ ")
        if lines[-1].cell_len and lines[-1].cell_len + 3 + _width(self.outputs[:1]) > width:
            lines.append(Text())  # the outputs start on their own line
        elif lines[-1].cell_len:
            lines[-1].append(" ")
        lines[-1].append_text(arrow)
        lines[-1:] = _wrap(self.outputs, width, lines[-1])
        yield from lines


def _width(pieces: list[Text]) -> int:
    return sum(piece.cell_len for piece in pieces)


def _wrap(pieces: list[Text], width: int, line: Text) -> list[Text]:
    """``pieces`` joined by ``, `` after ``line``, a new line wherever one would overflow."""
    lines = [line]
    for position, piece in enumerate(pieces):
        separator = ", " if position else ""
        # One column stays free for the comma that may follow the piece.
        started = lines[-1].plain.strip(" →")
        if started and lines[-1].cell_len + len(separator) + piece.cell_len + 1 > width:
            lines[-1].append(separator.rstrip())
            lines.append(Text("  "))
            separator = ""
        lines[-1].append(separator)
        lines[-1].append_text(piece)
    return lines
