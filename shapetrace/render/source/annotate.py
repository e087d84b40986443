"""The forward source with each line's shapes as a comment, as in the article.

Every user-defined ``forward`` that ran is shown once (the root's first), each
statement's shapes in a comment on its last line, aligned in one column::

    output, _ = self.lstm(input_seq, (h_0, c_0))      # output (5, 30, 64) non-contig, h_n (5, 5, 64), c_n (5, 5, 64)
    output = output.contiguous().view(self.batch_size * seq_len, self.hidden_size)  # (150, 64)

The code is left as written: a line only gains a comment at its end, after
the user's own comment where it has one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from rich.cells import cell_len

from shapetrace.core.records import Call, Location
from shapetrace.core.text import format_list, format_location, labelled_shapes
from shapetrace.core.trace import Trace
from shapetrace.render.marks import marked_shape
from shapetrace.render.passes import fold_sizes
from shapetrace.render.sections import DataTransform, split_sections
from shapetrace.render.source.comments import statement_comment
from shapetrace.render.source.reader import ForwardSource, SourceNotFoundError, read_forward, read_statements
from shapetrace.render.structure import is_user_loss, run_name

if TYPE_CHECKING:
    from rich.syntax import Syntax

# Comments start in one column unless the code reaches past it.
MAX_COLUMN = 88


@dataclasses.dataclass
class _Forward:
    """One ``forward`` function and every module call that ran it."""

    defined_at: Location
    calls: list[Call]


@overload
def annotate(trace: Trace, *, verbose: bool = ..., rich: Literal[False] = ..., max_column: int = ...) -> str: ...
@overload
def annotate(trace: Trace, *, verbose: bool = ..., rich: Literal[True], max_column: int = ...) -> Syntax: ...
def annotate(trace: Trace, *, verbose: bool = False, rich: bool = False, max_column: int = MAX_COLUMN) -> str | Syntax:
    """The source of each forward that ran, every line with its shapes::

        >>> print(annotate(t))
        # LSTM.forward (root) · demos/lstm_forecaster.py:31
            def forward(self, input_seq):
                h_0 = torch.randn(...).to(device)  # h_0 (5, 5, 64)  [ST003]
                ...
                pred = pred[:, -1, :]  # (5, 1)                                # (5, 1) non-contig
                return pred

    ``verbose=True`` shows each step of a line
    (``(5, 30, 64) -> contiguous -> view -> (150, 64)``); ``rich=True``
    returns a syntax-highlighted ``rich.syntax.Syntax`` as wide as its
    longest line (``console.print(it, crop=False, soft_wrap=True)`` lets the
    terminal wrap it rather than cut the comments off).
    Raises ``SourceNotFoundError`` when no forward's file can be read.
    """
    text = "\n\n".join(block.text() for block in annotated_blocks(trace, verbose=verbose, max_column=max_column))
    if not rich:
        return AnnotatedSource(text)
    from rich.syntax import Syntax

    # As wide as the longest line: print with crop=False, soft_wrap=True to keep every comment.
    code_width = max(cell_len(line) for line in text.splitlines())
    return Syntax(text, "python", theme="ansi_dark", background_color="default", code_width=code_width)


@dataclasses.dataclass(frozen=True)
class AnnotatedBlock:
    """One forward's listing, kept in parts for renderers that place each line
    (the HTML report gives every line an anchor and styles the comments apart).

    ``header``: ``# LSTM.forward (root) · demos/lstm_forecaster.py:31`` (plus a
    note line when the file changed since the trace); ``filename`` and
    ``first``: where ``lines[0]`` sits (1-based); ``lines``: the code as
    written, empty when the source cannot be read (``missing`` says why);
    ``comments``: line number -> the shapes comment (without ``# ``);
    ``column``: where the comments start.
    """

    header: str
    filename: str
    first: int
    lines: tuple[str, ...]
    comments: dict[int, str]
    column: int
    missing: str | None = None

    def text(self) -> str:
        """The block as ``annotate`` prints it: the header, then each line with its comment."""
        if self.missing is not None:
            return f"{self.header}\n# source not shown: {self.missing}"
        return self.header + "\n" + "\n".join(_with_comments(self.lines, self.first, self.comments, self.column))


def annotated_blocks(trace: Trace, *, verbose: bool = False, max_column: int = MAX_COLUMN) -> list[AnnotatedBlock]:
    """The parts of ``annotate``'s listing, one block per forward that ran (the root's first),
    then one per statement that computed a functional loss outside the model
    or called PyTorch's modules from outside any forward (``_outside_blocks``), then the
    data transforms' forwards.

    Raises ``SourceNotFoundError`` when no user-defined forward ran, or none of
    their files can be read; a block whose file alone is missing says so in ``missing``.
    """
    forwards, transforms = _forwards(trace)
    losses = _outside_blocks(trace, verbose=verbose, max_column=max_column)
    if not forwards and losses:
        return losses
    if not forwards:
        raise SourceNotFoundError(
            "nothing to annotate: no forward defined in user code ran in this trace "
            "(PyTorch's own modules have no source of yours)"
        )
    blocks, missing = [], []
    for forward in forwards:
        try:
            blocks.append(
                _annotated_block(
                    trace, forward, verbose=verbose, max_column=max_column, transform=transforms.get(id(forward))
                )
            )
        except SourceNotFoundError as error:
            missing.append(error)
            place = forward.defined_at
            header = _header(forward, transforms.get(id(forward)))
            blocks.append(AnnotatedBlock(header, place.filename, place.lineno, (), {}, 0, str(error)))
    if len(missing) == len(forwards):
        raise missing[0]
    # The losses after the models' forwards, before the data transforms' (render/sections.py's order).
    cut = next((n for n, forward in enumerate(forwards) if id(forward) in transforms), len(forwards))
    return [*blocks[:cut], *losses, *blocks[cut:]]


# Statements of the user's at most this many lines apart share one block.
_BLOCK_GAP = 3


def _outside_blocks(trace: Trace, *, verbose: bool, max_column: int) -> list[AnnotatedBlock]:
    """A block per stretch of the user's code, outside any forward of theirs, that called
    what has no source of the user's: a loss (``F.mse_loss``, ``nn.BCELoss``), where a
    prediction and a target that disagree in shape meet, or a PyTorch module used as a
    model (a GAN's ``nn.Sequential``). Statements at most ``_BLOCK_GAP`` lines apart
    share a block; each statement of it that made a top-level call gets its comment
    (``out = D(real).view(-1)  # out (16,)``). A file that cannot be read is left out
    (the forwards' blocks say what is missing)."""
    transforms = {call.id for transform in split_sections(trace).transforms for call in transform.calls}
    roots = [c for c in trace.calls if c.parent_id is None and c.location is not None and c.id not in transforms]
    anchors: dict[str, set[int]] = {}
    for call in roots:
        if is_user_loss(call) or _is_loss_module(call) or (call.kind == "module" and call.defined_at is None):
            anchors.setdefault(call.location.filename, set()).add(call.location.lineno)  # type: ignore[union-attr]
    blocks = []
    for filename, linenos in anchors.items():
        try:
            source = read_statements(filename, sorted(linenos))
        except SourceNotFoundError:
            continue
        for first, last in _stretches(source):
            blocks.append(_outside_block(trace, source, roots, first, last, verbose=verbose, max_column=max_column))
    return blocks


def _is_loss_module(call: Call) -> bool:
    return call.kind == "module" and call.defined_at is None and call.type.endswith("Loss")


def _stretches(source: ForwardSource) -> list[tuple[int, int]]:
    """``(first, last)`` line of each run of ``source``'s statements, at most ``_BLOCK_GAP`` apart."""
    stretches: list[tuple[int, int]] = []
    unique = {statement.first: statement for statement in source.statements.values()}
    for statement in sorted(unique.values(), key=lambda statement: statement.first):
        if stretches and statement.first - stretches[-1][1] <= _BLOCK_GAP:
            stretches[-1] = (stretches[-1][0], max(stretches[-1][1], statement.last))
        else:
            stretches.append((statement.first, statement.last))
    return stretches


def _outside_block(
    trace: Trace,
    source: ForwardSource,
    roots: Sequence[Call],
    first: int,
    last: int,
    *,
    verbose: bool,
    max_column: int,
) -> AnnotatedBlock:
    """The block of lines ``first``..``last``: each statement's shapes, a loss's
    with what it compared (``input (2, 1, 64, 64), target (2, 64, 64) -> loss ()``)."""
    part = dataclasses.replace(
        source,
        first=first,
        last=last,
        statements={n: st for n, st in source.statements.items() if first <= n <= last},
    )
    per_statement: dict[int, list[Call]] = {}
    for call in roots:
        last_line = _statement_line(part, call.location)
        if last_line is not None:
            per_statement.setdefault(last_line, []).append(call)
    comments = {}
    for last_line, calls in per_statement.items():
        statement = part.statements[last_line]
        comment = statement_comment([calls], statement, verbose=verbose)
        losses = [call for call in calls if is_user_loss(call) or _is_loss_module(call)]
        if losses:
            # What the loss compared, then what it made: `input (2, 1, 64, 64), target (2, 64, 64) -> loss ()`.
            compared = Counter(", ".join(labelled_shapes(call, call.inputs, output=False)) for call in losses)
            operands = "; ".join(text if count == 1 else f"{text} ×{count}" for text, count in fold_sizes(compared))
            comment = f"{operands} -> {comment}"
        comments[last_line] = comment
    for line, codes in _finding_codes(trace, part).items():
        comments[line] = (comments.get(line, "") + "  " + " ".join(f"[{code}]" for code in codes)).strip()
    lines = tuple(part.line(n) for n in range(first, last + 1))
    models = [
        call
        for calls in per_statement.values()
        for call in calls
        if call.kind == "module" and call.defined_at is None and not _is_loss_module(call)
    ]
    where = format_location(Location(source.filename, first, ""))
    if models:
        called = list(dict.fromkeys(call.name or f"{call.type} (root)" for call in models))
        header = f"# {format_list(called)}, called from your code · {where}"
    else:
        header = f"# the loss, outside the model · {where}"
    return AnnotatedBlock(
        header, source.filename, first, lines, comments, _comment_column(lines, first, comments, max_column)
    )


class AnnotatedSource(str):
    """The annotated code: a ``str`` whose repr is the code itself, so a notebook
    cell ending in ``t.annotate()`` shows the lines, not an escaped one-liner."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's display of a value
        printer.text(str(self))


def _forwards(trace: Trace) -> tuple[list[_Forward], dict[int, DataTransform]]:
    """The user-defined forwards that ran, section by section (``render/sections.py``:
    the models with the most parameters first, the data transforms last), each
    section's in the order they first ran; and id(forward) -> the data transform
    it is the forward of."""
    parts = split_sections(trace)
    rank = {call.id: position for position, call in enumerate(parts.ordered_roots())}
    folded = {call.id: transform for transform in parts.transforms for call in transform.calls}
    forwards: dict[tuple[str, int], _Forward] = {}
    first_rank: dict[tuple[str, int], int] = {}
    transforms: dict[int, DataTransform] = {}
    for call in trace.modules:
        if call.defined_at is not None:
            key = (call.defined_at.filename, call.defined_at.lineno)
            forward = forwards.setdefault(key, _Forward(call.defined_at, []))
            forward.calls.append(call)
            root = call
            while root.parent is not None:
                root = root.parent
            first_rank[key] = min(first_rank.get(key, len(rank)), rank.get(root.id, len(rank)))
            if call is root and root.id in folded:
                transforms[id(forward)] = folded[root.id]
    ordered = sorted(forwards, key=lambda key: first_rank[key])  # stable: first run first within a section
    return [forwards[key] for key in ordered], transforms


def _header(forward: _Forward, transform: DataTransform | None = None) -> str:
    """``# LSTM.forward (root) · demos/lstm_forecaster.py:31``; a data transform's
    ``# Normalize.forward (data transform ×48) · ...``."""
    calls = forward.calls
    types = "/".join(dict.fromkeys(call.type for call in calls))
    function = forward.defined_at.function or "forward"
    if transform is not None:
        who = f"data transform ×{transform.count}" if transform.count > 1 else "data transform"
        return f"# {types}.{function} ({who}) · {format_location(forward.defined_at)}"
    by_name = list({call.name: call for call in calls}.values())  # a module called in a loop, once
    who = "root" if [call.name for call in by_name] == [""] else run_name(by_name)
    if len(calls) > 1:
        who += f", {len(calls)} calls"
    return f"# {types}.{function} ({who}) · {format_location(forward.defined_at)}"


def _annotated_block(
    trace: Trace, forward: _Forward, *, verbose: bool, max_column: int, transform: DataTransform | None = None
) -> AnnotatedBlock:
    source = read_forward(forward.defined_at)
    comments = _comments(trace, forward, source, verbose=verbose)
    lines = tuple(source.line(n) for n in range(source.first, source.last + 1))
    header = _header(forward, transform)
    if _is_stale(forward, source):
        header += "\n# note: the file changed since this trace was recorded; shapes may sit on the wrong lines"
    return AnnotatedBlock(
        header,
        source.filename,
        source.first,
        lines,
        comments,
        _comment_column(lines, source.first, comments, max_column),
    )


def _comments(trace: Trace, forward: _Forward, source: ForwardSource, *, verbose: bool) -> dict[int, str]:
    """Line number -> comment, for each statement that recorded a call."""
    per_statement: dict[int, list[list[Call]]] = {}
    for module_call in forward.calls:
        grouped: dict[int, list[Call]] = {}
        for call in module_call.children:
            last = _statement_line(source, call.location)
            if last is not None:
                grouped.setdefault(last, []).append(call)
        for last, calls in grouped.items():
            per_statement.setdefault(last, []).append(calls)
    comments = {
        last: statement_comment(groups, source.statements[last], verbose=verbose)
        for last, groups in per_statement.items()
    }
    for last, text in _tuple_returns(forward, source, per_statement, verbose=verbose).items():
        comments[last] = text
    for last, codes in _finding_codes(trace, source).items():
        comments[last] = (comments.get(last, "") + "  " + " ".join(f"[{code}]" for code in codes)).strip()
    return comments


def _tuple_returns(
    forward: _Forward, source: ForwardSource, per_statement: dict[int, list[list[Call]]], *, verbose: bool
) -> dict[int, str]:
    """``return self.head(f), self.aux(f).squeeze(1)  # (12, 4), (12,)``: a ``return`` of a
    tuple shows every element, the outputs of the forward's calls that ran it (each
    statement's own comment shows the last call's result: one element). Verbose, the
    steps stay as they are."""
    if verbose:
        return {}
    texts: dict[int, Counter[str]] = {}
    for module_call in forward.calls:
        ran = {_statement_line(source, call.location) for call in module_call.children}
        for last in ran:
            if last is not None and last in per_statement and source.statements[last].returns_tuple:
                text = ", ".join(marked_shape(meta) for meta in module_call.outputs)
                texts.setdefault(last, Counter())[text] += 1
    return {
        last: next(iter(counts)) if sum(counts.values()) == 1 else "; ".join(f"{t} ×{n}" for t, n in fold_sizes(counts))
        for last, counts in texts.items()
    }


def _statement_line(source: ForwardSource, location: Location | None) -> int | None:
    """The last line of the statement at ``location``, if it lies in this forward."""
    if location is None or location.filename != source.filename:
        return None
    statement = source.statements.get(location.lineno)
    return statement.last if statement is not None else None


def _finding_codes(trace: Trace, source: ForwardSource) -> dict[int, list[str]]:
    calls = {call.id: call for call in trace.calls}
    codes: dict[int, list[str]] = {}
    for finding in trace.findings:
        call = calls.get(finding.call_id) if finding.call_id is not None else None
        location = finding.location or (call.location if call is not None else None)
        last = _statement_line(source, location)
        if last is not None and finding.code not in codes.get(last, []):
            codes.setdefault(last, []).append(finding.code)
    return codes


def _is_stale(forward: _Forward, source: ForwardSource) -> bool:
    """True when a recorded line's text differs from the file's line now."""
    for module_call in forward.calls:
        for call in module_call.children:
            location = call.location
            if (
                location is not None
                and location.code
                and location.filename == source.filename
                and source.first <= location.lineno <= source.last
                and source.line(location.lineno).strip() != location.code
            ):
                return True
    return False


def _comment_column(lines: Sequence[str], first: int, comments: dict[int, str], max_column: int) -> int:
    """The column the comments share: after the longest commented line, at most ``max_column`` + 2."""
    widths = [cell_len(lines[n - first].expandtabs()) for n in comments]
    return min(max(widths, default=0), max_column) + 2


def comment_gap(line: str, column: int) -> int:
    """Spaces between ``line`` and its comment: to ``column``, two at least."""
    return max(column - cell_len(line.expandtabs()), 2)


def _with_comments(lines: Sequence[str], first: int, comments: dict[int, str], column: int) -> list[str]:
    """Each line as written, its comment appended at ``column``."""
    out = []
    for lineno, line in enumerate(lines, start=first):
        comment = comments.get(lineno)
        if comment is None:
            out.append(line)
        else:
            out.append(line + " " * comment_gap(line, column) + "# " + comment)
    return out
