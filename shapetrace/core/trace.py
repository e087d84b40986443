"""``Trace``: the immutable result of a traced forward pass, and its queries.

Everything after the recorder works on a ``Trace`` alone, so a trace loaded
from JSON renders, asserts and diagnoses exactly like a live one.

The convenience methods (``t.findings``, ``t.print()``, ``t.graph()``...) are
thin delegations that import the layers above on use: the deliberate
exceptions to the one-way rule, all listed in ``pyproject.toml``
(``[tool.importlinter]``, ``ignore_imports``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from shapetrace.core.options import check_choice, check_depth, check_flag, check_int
from shapetrace.core.records import Call
from shapetrace.errors import ShapetraceError, UnknownCallError

if TYPE_CHECKING:
    import graphviz
    from rich.console import RenderableType
    from rich.syntax import Syntax

    from shapetrace.core.finding import Finding


class Trace:
    """The calls of one traced block, in execution order, as a tree.

    >>> with shapetrace.trace(model) as t:
    ...     pred = model(x)
    >>> t["lstm"].outputs[0].shape
    (5, 30, 64)
    """

    def __init__(
        self,
        calls: Sequence[Call] = (),
        *,
        error: BaseException | None = None,
        ops: bool | str = True,
        ignore: Iterable[str] = (),
        run_info: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._calls: tuple[Call, ...] = tuple(calls)
        self._error = error
        self._ops = ops
        self._ignore = _finding_codes(ignore)
        self._meta = dict(run_info or meta or {})  # meta: run_info's former name
        self._findings: list[Finding] | None = None
        self._by_name: dict[str, list[Call]] | None = None
        # While the block runs, queries read a snapshot of the recorder.
        self._live: Callable[[], list[Call]] | None = None

    def _freeze(self, calls: Sequence[Call], error: BaseException | None) -> None:
        """Called once, when the traced block ends."""
        self._calls, self._error, self._live = tuple(calls), error, None

    # ------------------------------------------------------------ queries
    @property
    def calls(self) -> tuple[Call, ...]:
        """All calls, modules and ops, in execution order."""
        if self._live is not None:
            return tuple(self._live())
        return self._calls

    @property
    def ops(self) -> tuple[Call, ...]:
        """The op calls (tensor operations) only. ``trace(ops=...)`` says which
        ops were recorded (``ops_setting``); a view's ``ops=`` whether to show them."""
        return tuple(call for call in self.calls if call.kind == "op")

    @property
    def modules(self) -> tuple[Call, ...]:
        return tuple(call for call in self.calls if call.kind == "module")

    @property
    def roots(self) -> tuple[Call, ...]:
        """Top-level calls: each forward of the model, and ops outside it."""
        return tuple(call for call in self.calls if call.parent_id is None)

    @property
    def root(self) -> Call | None:
        """The first call of the root module (the model itself)."""
        return next((c for c in self.calls if c.kind == "module" and c.parent_id is None), None)

    @property
    def error(self) -> BaseException | None:
        """The exception raised inside the traced block, or None."""
        return self._error

    @property
    def ops_setting(self) -> bool | str:
        """The ``ops`` the trace was recorded with: True, False or ``"all"``."""
        return self._ops

    @property
    def ignore(self) -> tuple[str, ...]:
        return self._ignore

    @property
    def run_info(self) -> dict[str, Any]:
        """Facts about the run, JSON-ready: the torch and shapetrace versions, the
        model's type and, after :func:`shapetrace.vary`, ``"variation"`` (the sizes
        each run used, the runs that failed). A copy: changing it changes nothing.

        Not to be confused with :class:`TensorMeta` (one tensor's metadata) or
        the ``meta`` device (tensors without data).
        """
        return dict(self._meta)

    @property
    def meta(self) -> dict[str, Any]:
        """``run_info`` under its former name (kept working; written as ``"meta"`` in JSON)."""
        return dict(self._meta)

    def _names(self) -> dict[str, list[Call]]:
        if self._by_name is not None:
            return self._by_name
        by_name: dict[str, list[Call]] = {}
        for call in self.calls:
            if call.kind == "module":
                by_name.setdefault(call.name, []).append(call)
        if self._live is None:
            self._by_name = by_name
        return by_name

    def module_names(self) -> list[str]:
        return list(self._names())

    def calls_of(self, name: str) -> list[Call]:
        """Every call of the module with that qualified name (loops reuse modules).

        >>> [call.index for call in t.calls_of("lstm")]
        [0]

        Args:
            name: the module's qualified name as in ``named_modules()``
                (``"lstm"``, ``"layers.0.self_attn"``; ``""`` for the root).

        Raises:
            UnknownCallError: no module of that name ran (the message lists close matches).
            ShapetraceError: ``name`` is not a str.
        """
        if not isinstance(name, str):
            hint = f"; t.calls[{name}] is the call at that position" if isinstance(name, int) else ""
            raise ShapetraceError(
                f"calls are looked up by a module's qualified name, a str such as 'lstm', "
                f"not {type(name).__name__}{hint}"
            )
        calls = self._names().get(name)
        if calls is None:
            raise UnknownCallError(name, self._names())
        return list(calls)

    def __getitem__(self, name: str) -> Call:
        """The first call of the module with that qualified name."""
        return self.calls_of(name)[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._names()

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    def __repr__(self) -> str:
        state = f", error={type(self._error).__name__}" if self._error else ""
        return f"<Trace {len(self.modules)} module calls, {len(self.ops)} ops{state}>"

    # ----------------------------------------------------------- analyses
    @property
    def findings(self) -> list[Finding]:
        """Shape bugs found in this trace (see the findings catalogue)."""
        if self._findings is not None:
            return list(self._findings)
        from shapetrace.analyze.checks import run_checks

        findings = run_checks(self, ignore=self._ignore)
        if self._live is None:
            self._findings = findings
        return list(findings)

    # ---------------------------------------------------------- renderers
    def table(self, *, ops: bool = True, depth: int | None = None) -> RenderableType:
        """A rich table, one row per call, indented by depth like torchinfo.

        >>> rich.print(t.table(ops=False))        # doctest: +SKIP
        Call              Line                          Input shape        Output shape         contig        Params
        ─────────────────────────────────────────────────────────────────────────────────────────────────────────────
        LSTM (root)       demos/train.py:12             (5, 30)            (5, 1)               non-contig   150,337
          └─ lstm: LSTM   demos/lstm_forecaster.py:38   input (5, 30, 1)   output (5, 30, 64)   non-contig   150,272
          ...

        Args:
            ops: also show op calls (``view``, ``permute``...); default True.
            depth: show calls down to this depth (0: top-level calls only);
                default None, every call.

        Returns:
            A rich renderable (print it with ``rich.print`` or a ``Console``).

        Raises:
            ShapetraceError: a bad ``ops`` or ``depth``.
        """
        from shapetrace.render.table import trace_table

        return trace_table(self, ops=check_flag("Trace.table", "ops", ops), depth=check_depth("Trace.table", depth))

    def print(self, *, ops: bool = True, depth: int | None = None, file: Any = None) -> None:
        """Print a summary line, the table and the findings to the terminal.

        >>> import io
        >>> out = io.StringIO()
        >>> t.print(depth=0, file=out)
        >>> print(out.getvalue().splitlines()[0])
        shapetrace LSTM: 3 module calls, 9 ops, 1 finding, 150,337 parameters; every tensor float32 on cpu

        Args:
            ops: also show op calls; default True.
            depth: show calls down to this depth; default None, every call.
            file: a text stream to write to instead of standard output; default
                None. Colours are left out when it is not a terminal.

        Raises:
            ShapetraceError: a bad ``ops`` or ``depth``.
        """
        from shapetrace.render.report import print_report

        print_report(
            self, ops=check_flag("Trace.print", "ops", ops), depth=check_depth("Trace.print", depth), file=file
        )

    def __rich__(self) -> RenderableType:
        """What ``rich.print(t)`` shows: the summary line, the table and the findings."""
        from shapetrace.render.report import report

        return report(self)

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

        assert_snapshot(self, name)

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
        return trace_to_json(self, indent=indent)

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
            return annotate(self, verbose=verbose, rich=True, max_column=max_column)
        return annotate(self, verbose=verbose, max_column=max_column)

    def graph(
        self,
        *,
        depth: int | None = None,
        ops: bool = False,
        collapse: bool = True,
        rankdir: str = "TB",
        max_size: int | None = 800,
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
            ops: draw op calls as nodes; default False: an edge names the ops
                it went through (``via .contiguous() .view(150, 64)``).
            collapse: draw a run of alike calls once (``layers.0-11 ×12``);
                default True.
            rankdir: Graphviz's direction, ``"TB"`` (top to bottom), ``"LR"``,
                ``"BT"`` or ``"RL"``; default ``"TB"``.
            max_size: the most nodes plus rank-crossing edge segments to give
                ``dot`` (it lays out 800 in a few seconds, 2,600 in minutes);
                default 800; None: no limit.

        Returns:
            ``graphviz.Digraph`` (``.source`` is the DOT text; ``.render()``
            needs Graphviz's ``dot`` program). Findings colour their call; the
            steps of a loop are one node (``lstm1 ×999``).

        Raises:
            ShapetraceError: a bad option value.
            GraphTooLargeError: past ``max_size``; the message names a
                ``depth=``/``ops=False`` that fits.
        """
        from shapetrace.render.graph.digraph import trace_graph

        function = "Trace.graph"
        return trace_graph(
            self,
            depth=check_depth(function, depth),
            ops=check_flag(function, "ops", ops),
            collapse=check_flag(function, "collapse", collapse),
            rankdir=check_choice(function, "rankdir", rankdir, ("TB", "LR", "BT", "RL")),
            max_size=None if max_size is None else check_int(function, "max_size", max_size, minimum=1),
        )

    def tree(self, *, ops: bool = False, depth: int | None = None, collapse: bool = True) -> RenderableType:
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
            ops: also show op calls; default False.
            depth: show calls down to this depth; default None, every call.
            collapse: show a run of alike calls once (``layers.0-11 ×12``); default True.

        Returns:
            ``rich.tree.Tree``.

        Raises:
            ShapetraceError: a bad option value.
        """
        from shapetrace.render.tree import trace_tree

        function = "Trace.tree"
        return trace_tree(
            self,
            ops=check_flag(function, "ops", ops),
            depth=check_depth(function, depth),
            collapse=check_flag(function, "collapse", collapse),
        )

    def html(self, *, ops: bool = True, depth: int | None = None, graph: bool = True) -> str:
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
            ops: also show op calls in the table; default True.
            depth: show calls down to this depth; default None, every call.
            graph: draw the graph (needs Graphviz's ``dot``; without it the page
                says so in one line); default True.

        Returns:
            str: the HTML document, UTF-8 text.

        Raises:
            ShapetraceError: a bad option value.
        """
        from shapetrace.render.html_report import html_report

        function = "Trace.html"
        return html_report(
            self,
            ops=check_flag(function, "ops", ops),
            depth=check_depth(function, depth),
            graph=check_flag(function, "graph", graph),
        )

    def _repr_html_(self) -> str:
        from shapetrace.render.html import trace_html

        return trace_html(self)


def _finding_codes(ignore: Iterable[str]) -> tuple[str, ...]:
    """``"st006, ST003"`` or ``["ST006"]`` -> ``("ST006", "ST003")``; unknown codes are an error,
    since a mistyped one would silence nothing."""
    if isinstance(ignore, str):
        ignore = ignore.split(",")
    try:
        codes = [code.strip().upper() for code in ignore if code.strip()]
    except (TypeError, AttributeError):
        raise ShapetraceError(f"ignore takes finding codes, e.g. ['ST006'] or 'ST006,ST003', not {ignore!r}") from None
    if not codes:
        return ()
    from shapetrace.analyze.checks import load_detectors

    known = load_detectors()
    for code in codes:
        if code not in known:
            raise ShapetraceError(f"ignore: unknown finding code {code!r} (the codes are {', '.join(sorted(known))})")
    return tuple(dict.fromkeys(codes))
