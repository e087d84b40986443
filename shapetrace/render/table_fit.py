"""Fitting a rich table into the terminal without cutting what must stay
whole, and printing it (and the report around it) without trailing blanks.

rich narrows a table that is too wide by taking width from its widest
wrapping columns (``Table._collapse_widths``), without looking at their
``min_width``; it then measures each column again at its new width, the
minimum wins, and the table comes out wider than the terminal: the console
crops its right end, which is where the parameter counts are (gat's table at
80 columns printed ``1,4``). ``fit_columns`` does the narrowing first, the
same way (widest wrapping column first) but never below a column's minimum,
and gives each narrowed column that width as its ``max_width``: rich then has
nothing left to narrow. Columns that wrap between words (a dtype's) give way
first, then those that fold a word (a tensor's name), and the call's name last.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Column, Table
from rich.text import Text

__all__ = ["MIN_LOCATION", "NameOverLine", "Trimmed", "fit_columns"]


def fit_columns(table: Table, console: Console, options: ConsoleOptions) -> None:
    """Caps the wrapping columns of ``table`` so it fits ``options.max_width``,
    widest first, each no narrower than its minimum (``_column_range``);
    no-wrap columns keep their width. A table that cannot
    fit that way is left as is (the caller picked its narrowest layout)."""
    unclamped = options.update(max_width=10_000)  # Measurement clamps to the width it is given
    ranges = [_column_range(console, unclamped, column) for column in table.columns]
    widths = [high for _, high in ranges]
    chrome = Measurement.get(console, unclamped, table).maximum - sum(widths)
    excess = chrome + sum(widths) - options.max_width
    shrinkable = [i for i, column in enumerate(table.columns) if not column.no_wrap and column.width is None]
    # Columns that wrap between words (dtypes) give way first, then those that fold a word
    # (the tensors' names over their shapes), and last the first column (the call's name).
    tiers = [[i for i in shrinkable if not _folds(table.columns[i])]]
    tiers += [[i for i in shrinkable if _folds(table.columns[i]) and i], [i for i in shrinkable if not i]]
    for tier in tiers:
        while excess > 0:
            room = [i for i in tier if widths[i] > ranges[i][0]]
            if not room:
                break
            widest = max(room, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    if excess > 0:
        return
    for i in shrinkable:
        if widths[i] < ranges[i][1]:
            table.columns[i].max_width = widths[i]


def _folds(column: Column) -> bool:
    return column.overflow == "fold"


def _column_range(console: Console, options: ConsoleOptions, column: Column) -> tuple[int, int]:
    """How narrow the column may go and how wide it renders, in cells: a
    folding column (names, shapes) down to its ``min_width``, folding a long
    word; another down to its longest word (``float32``)."""
    measured = [Measurement.get(console, options, cell) for cell in (column.header, *column.cells)]
    words = 0 if _folds(column) else max(m.minimum for m in measured)
    low = max(column.min_width or 1, words)
    return low, max([low, *(m.maximum for m in measured)])


# The narrowest a file:line gets: ``…ion_small.py:74`` keeps the line and the end of the name.
MIN_LOCATION = 16


class NameOverLine:
    """A call's name over its ``file:line`` (indented under the name), for the
    narrowest layout: at the width the column gets, the name folds, the
    line's indent shrinks, and last the file's name gives way from the left
    (``…ion_small.py:74``). The line number is never cut."""

    def __init__(self, name: Text, location: str, indent: int) -> None:
        self.name, self.location, self.indent = name, location, indent

    @property
    def narrowest(self) -> int:
        return min(len(self.location), MIN_LOCATION)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max(self.name.cell_len, self.indent + len(self.location))
        return Measurement(self.narrowest, widest).with_maximum(options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.name
        if self.location:
            width = max(options.max_width, self.narrowest)
            text = self.location if len(self.location) <= width else "…" + self.location[1 - width :]
            yield Text(" " * min(self.indent, width - len(text)) + text, "dim")


class Trimmed:
    """``renderable`` without the spaces that end its lines: rich pads every
    table cell to its column's width and leaves the space where it wraps a
    line of text, blanks a file, a pipe or a copied report keeps (and ``diff``
    shows). A blank with a background colour is kept: it shows."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.renderable)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in console.render_lines(self.renderable, options, pad=False):
            while line and _blank(line[-1]):
                line.pop()
            if line and not line[-1].control and (line[-1].style is None or line[-1].style.bgcolor is None):
                last = line[-1]
                line[-1] = Segment(last.text.rstrip(" "), last.style)
            yield from line
            yield Segment.line()


def _blank(segment: Segment) -> bool:
    style = segment.style
    return not segment.control and not segment.text.strip(" ") and (style is None or style.bgcolor is None)
