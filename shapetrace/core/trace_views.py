"""``TraceViews``: the ways to look at a ``Trace`` (table, report, tree, graph,
annotated source, JSON, snapshot), as methods of ``Trace``.

Each method validates its options (``core/options.py``; the display options
every view shares, in one place: ``_view_options``) and delegates to the
layer that draws it, imported on use: the deliberate exceptions to the one-way
rule, all listed in ``pyproject.toml`` (``[tool.importlinter]``,
``ignore_imports``). ``Trace`` (``core/trace.py``) holds the calls and their
queries; this mixin only adds the views, so neither grows past one job.

One word, one meaning: a view's ``show_ops=`` says whether op calls
(``view``, ``permute``...) are *shown* (``--no-ops`` on the command line);
``trace(ops=...)`` says which were *recorded* (``Trace.ops_setting``;
``--no-op-recording``); ``Trace.ops`` is the recorded op calls. ``ops=`` on a
view is ``show_ops=``'s former name, kept working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast, overload

from shapetrace.core.options import MAX_LAYOUT_SIZE, check_choice, check_depth, check_flag, check_int
from shapetrace.errors import ShapetraceError

if TYPE_CHECKING:
    import graphviz
    from rich.console import RenderableType
    from rich.syntax import Syntax

    from shapetrace.core.trace import Trace


def _show_ops(function: str, show_ops: bool, ops: bool | None, default: bool) -> bool:
    """``show_ops=``, or ``ops=`` (its former name, kept working), validated under
    the name the caller used; both at once, disagreeing, is an error."""
    if ops is None:
        return check_flag(function, "show_ops", show_ops)
    if show_ops is not default:
        raise ShapetraceError(f"{function}(): pass show_ops= only (ops= is its former name)")
    return check_flag(function, "ops", ops)


def _view_options(
    function: str, *, show_ops: bool, ops: bool | None, default: bool, depth: int | None, **flags: bool
) -> dict[str, Any]:
    """The display options of a view, validated, as its renderer takes them:
    ``ops`` (from ``show_ops=`` or its former name ``ops=``; ``default`` is the
    view's own default for ``show_ops``), ``depth``, and each True/False option
    in ``flags`` (``collapse``, ``graph``) under its name.

    Raises:
        ShapetraceError: a bad value, named as ``function`` and the option the
            caller used; ``show_ops=`` and ``ops=`` both given and disagreeing.
    """
    checked: dict[str, Any] = {
        "ops": _show_ops(function, show_ops, ops, default),
        "depth": check_depth(function, depth),
    }
    checked.update((name, check_flag(function, name, value)) for name, value in flags.items())
    return checked


def _as_trace(view: TraceViews) -> Trace:
    """Every ``TraceViews`` is a ``Trace`` (the mixin's only subclass)."""
    return cast("Trace", view)


class TraceViews:
    """The views of a ``Trace``; see each method. Mixed into ``Trace`` only."""

    __slots__ = ()

    def table(self, *, show_ops: bool = True, depth: int | None = None, ops: bool | None = None) -> RenderableType:
        """A rich table, one row per call, indented by depth like torchinfo.

        >>> rich.print(t.table(show_ops=False))   # doctest: +SKIP
        Call              Line                          Input shape        Output shape         contig        Params
        ─────────────────────────────────────────────────────────────────────────────────────────────────────────────
        LSTM (root)       demos/train.py:12             (5, 30)            (5, 1)               non-contig   150,337
          └─ lstm: LSTM   demos/lstm_forecaster.py:38   input (5, 30, 1)   output (5, 30, 64)   non-contig   150,272
          ...

        Args:
            show_ops: also show op calls (``view``, ``permute``...); default
                True. Display only: which ops were recorded is ``trace(ops=)``.
            depth: show calls down to this depth (0: top-level calls only);
                default None, every call.
            ops: ``show_ops``'s former name, kept working; default None.

        Returns:
            A rich renderable (print it with ``rich.print`` or a ``Console``).

        Raises:
            ShapetraceError: a bad ``show_ops`` or ``depth``.
        """
        from shapetrace.render.table import trace_table

        options = _view_options("Trace.table", show_ops=show_ops, ops=ops, default=True, depth=depth)
        return trace_table(_as_trace(self), **options)

    def print(
        self, *, show_ops: bool = True, depth: int | None = None, file: Any = None, ops: bool | None = None
    ) -> None:
        """Print a summary line, the table and the findings to the terminal.

        >>> import io
        >>> out = io.StringIO()
        >>> t.print(depth=0, file=out)
        >>> print(out.getvalue().splitlines()[0])
        shapetrace LSTM: 3 module calls, 9 ops, 1 finding, 150,337 parameters; every tensor float32 on cpu

        Args:
            show_ops: also show op calls; default True (display only).
            depth: show calls down to this depth; default None, every call.
            file: a text stream to write to instead of standard output; default
                None. Colours are left out when it is not a terminal.
            ops: ``show_ops``'s former name, kept working; default None.

        Raises:
            ShapetraceError: a bad ``show_ops`` or ``depth``.
        """
        from shapetrace.render.report import print_report

        options = _view_options("Trace.print", show_ops=show_ops, ops=ops, default=True, depth=depth)
        print_report(_as_trace(self), file=file, **options)

    def __rich__(self) -> RenderableType:
        """What ``rich.print(t)`` shows: the summary line, the table and the findings."""
        from shapetrace.render.report import report

        return report(_as_trace(self))

    def assert_snapshot(self, name: str | None = None) -> None:
        """Inside a pytest test: compare shapes and dtypes with the saved snapshot.

        ::

            def test_forecaster_shapes(shapetrace):
                with shapetrace(model) as t:
                    model(x)
                t.assert_snapshot()

        The snapshot is ``__shapetrace__/<file>.<test>[.<name>].json`` next to
        the test file; ``pytest --shapetrace-update`` writes it.

        Args:
            name: tells several snapshots of one test apart; default None.

        Raises:
            AssertionError: the shapes or dtypes differ from the snapshot (the
                message lists each difference), or no snapshot was written yet.
            ShapetraceError: called outside a pytest test.
        """
        __tracebackhide__ = True
        from shapetrace.testing.snapshot import assert_snapshot

        assert_snapshot(_as_trace(self), name)

    def to_json(self, *, indent: int | None = None) -> str:
        """The trace as JSON text; ``shapetrace.load(text)`` reads it back.

        >>> shapetrace.load(t.to_json())["lstm"].outputs[0].shape
        (5, 30, 64)

        Args:
            indent: spaces per nesting level; default None, one line.
        """
        from shapetrace.core.serialize import trace_to_json

        if indent is not None:
            check_int("Trace.to_json", "indent", indent, minimum=0)
        return trace_to_json(_as_trace(self), indent=indent)

    @overload
    def annotate(self, *, verbose: bool = ..., rich: Literal[False] = ..., max_column: int = ...) -> str: ...
    @overload
    def annotate(self, *, verbose: bool = ..., rich: Literal[True], max_column: int = ...) -> Syntax: ...
    def annotate(self, *, verbose: bool = False, rich: bool = False, max_column: int = 88) -> str | Syntax:
        """The source of each ``forward`` that ran, every line with its shapes as a comment.

        >>> print(t.annotate())                                     # doctest: +SKIP
        # LSTM.forward (root) · demos/lstm_forecaster.py:31
            def forward(self, input_seq):
                ...
                output, _ = self.lstm(input_seq, (h_0, c_0))  # output (5, 30, 64) non-contig, h_n (5, 5, 64), ...
                pred = self.linear(output)                    # (150, 1)

        The code is left as written: a line only gains a comment at its end.

        Args:
            verbose: show each step of a line (``(5, 30, 64) -> contiguous ->
                view -> (150, 64)``); default False, the line's result only.
            rich: return a syntax-highlighted ``rich.syntax.Syntax`` instead of
                a str; default False.
            max_column: the column the comments start at, unless the code
                reaches past it; default 88.

        Returns:
            str (or ``rich.syntax.Syntax`` with ``rich=True``).

        Raises:
            SourceNotFoundError: no ``forward`` of user code ran, or none of
                their files can be read any more.
            ShapetraceError: a bad option value.
        """
        from shapetrace.render.source.annotate import annotate

        function = "Trace.annotate"
        verbose = check_flag(function, "verbose", verbose)
        max_column = check_int(function, "max_column", max_column, minimum=0)
        if check_flag(function, "rich", rich):
            return annotate(_as_trace(self), verbose=verbose, rich=True, max_column=max_column)
        return annotate(_as_trace(self), verbose=verbose, max_column=max_column)

    def graph(
        self,
        *,
        depth: int | None = None,
        show_ops: bool = False,
        collapse: bool = True,
        rankdir: str = "TB",
        max_size: int | None = MAX_LAYOUT_SIZE,
        ops: bool | None = None,
    ) -> graphviz.Digraph:
        """The data flow as a ``graphviz.Digraph``: a node per module call, a
        cluster per parent, each edge labelled with its tensor's shape.

        >>> dot = t.graph(depth=1)
        >>> "(150, 64)" in dot.source             # the edge lstm -> linear
        True
        >>> dot.render("model", format="svg")     # doctest: +SKIP

        Args:
            depth: draw calls down to this depth, deeper ones folded into
                their parent; default None, every call.
            show_ops: draw op calls as nodes; default False: an edge names the
                ops it went through (``via .contiguous() .view(150, 64)``).
            collapse: draw a run of alike calls once (``layers.0-11 ×12``);
                default True.
            rankdir: Graphviz's direction, ``"TB"`` (top to bottom), ``"LR"``,
                ``"BT"`` or ``"RL"``; default ``"TB"``.
            max_size: the most nodes plus rank-crossing edge segments to give
                ``dot``; default ``MAX_LAYOUT_SIZE`` (1,200, where ``dot``
                took about 3 CPU seconds in benchmarks/graph_size.py; at 2,000
                it had not finished after 60 s); None: no limit.
            ops: ``show_ops``'s former name, kept working; default None.

        Returns:
            ``graphviz.Digraph`` (``.source`` is the DOT text; ``.render()``
            needs Graphviz's ``dot`` program). Findings colour their call; the
            steps of a loop are one node (``lstm1 ×999``).

        Raises:
            ShapetraceError: a bad option value.
            GraphTooLargeError: past ``max_size``; the message names a
                ``depth=``/``show_ops=False`` that fits.
        """
        from shapetrace.render.graph.digraph import trace_graph

        function = "Trace.graph"
        options = _view_options(function, show_ops=show_ops, ops=ops, default=False, depth=depth, collapse=collapse)
        return trace_graph(
            _as_trace(self),
            **options,
            rankdir=check_choice(function, "rankdir", rankdir, ("TB", "LR", "BT", "RL")),
            max_size=None if max_size is None else check_int(function, "max_size", max_size, minimum=1),
        )

    def tree(
        self, *, show_ops: bool = False, depth: int | None = None, collapse: bool = True, ops: bool | None = None
    ) -> RenderableType:
        """A rich tree of the calls with their shapes and parameter counts.

        >>> rich.print(t.tree())                  # doctest: +SKIP
        LSTM (root)  150,337 params
        (5, 30) → (5, 1) non-contig
        ├── lstm: LSTM  150,272 params
        │   input (5, 30, 1), h_0 (5, 5, 64), c_0 (5, 5, 64)
        │   → output (5, 30, 64) non-contig, h_n (5, 5, 64), c_n (5, 5, 64)
        └── linear: Linear  65 params
            (150, 64) → (150, 1)

        Args:
            show_ops: also show op calls; default False (display only).
            depth: show calls down to this depth; default None, every call.
            collapse: show a run of alike calls once (``layers.0-11 ×12``); default True.
            ops: ``show_ops``'s former name, kept working; default None.

        Returns:
            ``rich.tree.Tree``.

        Raises:
            ShapetraceError: a bad option value.
        """
        from shapetrace.render.tree import trace_tree

        options = _view_options("Trace.tree", show_ops=show_ops, ops=ops, default=False, depth=depth, collapse=collapse)
        return trace_tree(_as_trace(self), **options)

    def html(
        self, *, show_ops: bool = True, depth: int | None = None, graph: bool = True, ops: bool | None = None
    ) -> str:
        """The report as one self-contained HTML page (what ``--format html`` writes).

        >>> page = t.html(graph=False)
        >>> page.startswith("<!DOCTYPE html>"), 'id="findings"' in page
        (True, True)
        >>> Path("report.html").write_text(t.html())   # doctest: +SKIP

        The summary line, the call table (loops folded as in the terminal),
        the findings, each ``forward``'s source annotated with shapes, and the
        graph as inline SVG. Every call row links to the line that made its
        call. Nothing is loaded from the network: the styles are inline.

        Args:
            show_ops: also show op calls in the table; default True (display only).
            depth: show calls down to this depth; default None, every call.
            graph: draw the graph (needs Graphviz's ``dot``; without it the page
                says so in one line); default True.
            ops: ``show_ops``'s former name, kept working; default None.

        Returns:
            str: the HTML document, UTF-8 text.

        Raises:
            ShapetraceError: a bad option value.
        """
        from shapetrace.render.html_report import html_report

        options = _view_options("Trace.html", show_ops=show_ops, ops=ops, default=True, depth=depth, graph=graph)
        return html_report(_as_trace(self), **options)

    def _repr_html_(self) -> str:
        from shapetrace.render.html import trace_html

        return trace_html(_as_trace(self))
