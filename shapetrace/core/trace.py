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
from typing import TYPE_CHECKING, Any

from shapetrace.core.records import Call
from shapetrace.errors import ShapetraceError, UnknownCallError

if TYPE_CHECKING:
    import graphviz
    from rich.console import RenderableType

    from shapetrace.core.finding import Finding


class Trace:
    """The calls of one traced block, in execution order, as a tree.

    >>> with shapetrace.trace(model) as t:
    ...     pred = model(x)
    >>> t["lstm"].outputs[0].shape
    (5, 30, 64)
    """

    def __init__(self, calls: Sequence[Call] = (), *, error: BaseException | None = None,
                 ops: bool | str = True, ignore: Iterable[str] = (),
                 run_info: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> None:
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
        """Every call of the module with that qualified name (loops reuse modules)."""
        if not isinstance(name, str):
            hint = f"; t.calls[{name}] is the call at that position" if isinstance(name, int) else ""
            raise ShapetraceError(f"calls are looked up by a module's qualified name, a str such as 'lstm', "
                                  f"not {type(name).__name__}{hint}")
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
        """A rich table, one row per call, indented by depth like torchinfo."""
        from shapetrace.render.table import trace_table

        return trace_table(self, ops=ops, depth=_check_depth(depth))

    def print(self, *, ops: bool = True, depth: int | None = None, file: Any = None) -> None:
        """Print the table and the findings to the terminal (or ``file``)."""
        from shapetrace.render.report import print_report

        print_report(self, ops=ops, depth=_check_depth(depth), file=file)

    def assert_snapshot(self, name: str | None = None) -> None:
        """Inside a pytest test: compare shapes and dtypes with the saved snapshot.

        The snapshot is ``__shapetrace__/<file>.<test>[.<name>].json`` next to
        the test file; ``pytest --shapetrace-update`` writes it.
        """
        __tracebackhide__ = True
        from shapetrace.testing.snapshot import assert_snapshot

        assert_snapshot(self, name)

    def to_json(self, *, indent: int | None = None) -> str:
        from shapetrace.core.serialize import trace_to_json

        return trace_to_json(self, indent=indent)

    def annotate(self, **options: Any) -> str:
        """The forward source with each line's shapes as an inline comment."""
        from shapetrace.render.source.annotate import annotate

        return annotate(self, **options)

    def graph(self, **options: Any) -> graphviz.Digraph:
        """The data flow as a ``graphviz.Digraph``."""
        from shapetrace.render.graph.digraph import trace_graph

        return trace_graph(self, **options)

    def tree(self, **options: Any) -> RenderableType:
        """A rich tree of module calls with their shapes."""
        from shapetrace.render.tree import trace_tree

        return trace_tree(self, **options)

    def _repr_html_(self) -> str:
        from shapetrace.render.html import trace_html

        return trace_html(self)


def _check_depth(depth: int | None) -> int | None:
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise ShapetraceError(f"depth is None (every call) or an int >= 0 (0: top-level calls only), not {depth!r}")
    return depth


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
