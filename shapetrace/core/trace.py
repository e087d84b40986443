"""``Trace``: the immutable result of a traced forward pass, and its queries.

Everything after the recorder works on a ``Trace`` alone, so a trace loaded
from JSON renders, asserts and diagnoses exactly like a live one.

The views (``t.print()``, ``t.table()``, ``t.graph()``...) come from
``TraceViews`` (``core/trace_views.py``); ``t.findings`` runs the checks. Both
import the layers above on use: the deliberate exceptions to the one-way
rule, all listed in ``pyproject.toml`` (``[tool.importlinter]``,
``ignore_imports``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from shapetrace.core.finding import Findings
from shapetrace.core.records import Call
from shapetrace.core.trace_views import TraceViews
from shapetrace.errors import ShapetraceError, UnknownCallError

if TYPE_CHECKING:
    from shapetrace.core.finding import Finding


class Trace(TraceViews):
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
        ops were recorded (``ops_setting``); a view's ``show_ops=`` whether to show them."""
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
    def findings(self) -> Findings:
        """Shape bugs found in this trace (see the findings catalogue), causes first:
        a finding whose call made an input of another's (or ran inside it) comes
        before it; otherwise by severity, then file and line, then code. A list of
        ``Finding`` that a REPL, ``print``, ``rich.print`` and a notebook show as
        the report does (``shapetrace.core.finding.Findings``); a new list each time."""
        if self._findings is not None:
            return Findings(self._findings)
        from shapetrace.analyze.checks import run_checks

        findings = run_checks(self, ignore=self._ignore)
        if self._live is None:
            self._findings = findings
        return Findings(findings)


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
