"""pytest integration (registered through the ``pytest11`` entry point).

- fixture ``shapetrace``: called like ``shapetrace.trace``, it returns the
  context manager (``with shapetrace(model) as t:``); blocks still open when
  the test ends are closed, so no hook outlives the test.
- ``Trace.assert_snapshot()``: the plugin binds the running test (for every
  test, through a context variable) so any trace can be snapshotted;
  ``--shapetrace-update`` writes the snapshots instead of comparing.
- ``--shapetrace``: a failing test that used the fixture gets each trace's
  table and findings as a report section.
- ``assert`` on shapes or TensorMetas explains which dims differ.
- ``[tool.shapetrace]`` of the rootdir's ``pyproject.toml``: the fixture
  applies ``ignore``, ``max-calls`` (passes recorded per model, as the
  command records a script) and ``fail-on`` (a test whose traces have a
  finding that reaches it fails, listing the findings); ``format`` is the
  format of the ``--shapetrace`` report sections (``SECTION_FORMATS``).

This module must not import torch at pytest start-up: everything heavy is
imported inside the fixtures and hooks that need it.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pytest

from shapetrace.testing.snapshot import UPDATE_FLAG  # a light module: no torch

if TYPE_CHECKING:
    from shapetrace.core.trace import Trace
    from shapetrace.record.tracing import _TraceBlock

_TRACES = pytest.StashKey[list["Trace"]]()  # per test item: traces the fixture took
_TRACING_TEST = pytest.StashKey[bool]()  # per config: a test using the fixture is running
_WRITTEN = pytest.StashKey[list[Path]]()  # per config: snapshot files written this run
_OUTCOMES = pytest.StashKey[dict[Path, str]]()  # per config: snapshot file -> passed / failed / written
_RUN = pytest.StashKey[dict[Path, dict[str, bool]]]()  # per config: test file -> {snapshot stem: test passed}
_PARTIAL = pytest.StashKey[set[Path]]()  # per config: test files of which some tests did not run
_CONFIG = pytest.StashKey[dict[str, Any]]()  # per config: [tool.shapetrace] of the rootdir's pyproject.toml
_FAIL_ON = pytest.StashKey[list[tuple["Trace", str]]]()  # per test item: (trace, the fail-on it is judged by)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shapetrace", "tensor shapes (shapetrace)")
    group.addoption(
        "--shapetrace",
        action="store_true",
        default=False,
        help="append the shape trace (table and findings) of a failing test "
        "that used the shapetrace fixture to its report",
    )
    group.addoption(
        UPDATE_FLAG,
        action="store_true",
        default=False,
        help="write or update the shape snapshots of Trace.assert_snapshot() instead of comparing with them",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_WRITTEN] = []
    config.stash[_TRACING_TEST] = False
    config.stash[_OUTCOMES] = {}
    config.stash[_RUN] = {}
    config.stash[_PARTIAL] = set()


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:  # a file run in part: its other snapshots are not known to be unused
        item.config.stash[_PARTIAL].add(item.path)


# ----------------------------------------------------------------- fixture
class _FixtureBlock:
    """A ``shapetrace.trace`` block that reports its trace to the test's item."""

    def __init__(self, block: _TraceBlock, traces: list[Trace]) -> None:
        self._block = block
        self._traces = traces
        self.open = False

    def __enter__(self) -> Trace:
        trace = self._block.__enter__()
        self.open = True
        self._traces.append(trace)
        return trace

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.open = False
        self._block.__exit__(exc_type, exc, tb)


class ShapetraceFixture:
    """The ``shapetrace`` fixture: call it like :func:`shapetrace.trace`.

    ::

        def test_forecaster(shapetrace):
            with shapetrace(model) as t:
                model(x)                          # x: (5, 30)
            assert t["lstm"].outputs[0].shape == (5, 30, 64)

    Blocks still open when the test ends are closed, so no hook outlives the
    test; with ``pytest --shapetrace`` a failing test's report shows each trace.
    """

    def __init__(
        self,
        traces: list[Trace],
        project_ignore: tuple[str, ...] = (),
        *,
        project: dict[str, Any] | None = None,
        judged: list[tuple[Trace, str]] | None = None,
    ) -> None:
        self.traces = traces
        self.project = dict(project or {})  # [tool.shapetrace]
        self.project_ignore = tuple(project_ignore) or tuple(self.project.get("ignore", ()))
        self.judged = judged if judged is not None else []
        self._blocks: list[_FixtureBlock] = []

    def __getattr__(self, name: str) -> Any:
        """The module's API through the fixture: a test with a ``shapetrace``
        argument shadows ``import shapetrace``, so ``shapetrace.assert_shapes``,
        ``shapetrace.vary`` and the rest stay reachable under that name."""
        if name.startswith("_"):  # private and special names are the fixture's own (copy, pickle, pytest)
            raise AttributeError(name)
        import shapetrace as module

        try:
            return getattr(module, name)
        except AttributeError:
            raise AttributeError(f"the shapetrace fixture (and module) has no attribute {name!r}") from None

    def __call__(
        self,
        model: Any = None,
        *,
        ops: bool | Literal["all"] = True,
        ignore: Iterable[str] = (),
        fail_on: str | None = None,
        max_calls: int | None = None,
    ) -> _FixtureBlock:
        """A context manager that records like ``shapetrace.trace(model, ops=ops, ignore=ignore)``.

        ::

            with shapetrace(model, ignore=["ST003"]) as t:
                model(x)

        Args:
            model: the ``nn.Module`` to trace; default None, every module that runs.
            ops: which tensor ops to record: True (the user's code; the
                default), ``"all"`` (inside PyTorch's modules too), False (none).
            ignore: finding codes to silence (``["ST006"]`` or ``"ST006,ST003"``),
                added to ``ignore`` of ``[tool.shapetrace]``; default none.
            fail_on: ``"error"``, ``"warning"`` or ``"never"``: the test fails
                when a finding of this trace reaches it; default None, ``fail-on``
                of ``[tool.shapetrace]``, else never.
            max_calls: record the first pass of each input shape of each
                top-level model, at most this many per model (as ``shapetrace
                run`` records a script); default None, ``max-calls`` of
                ``[tool.shapetrace]``, else every pass.

        Returns:
            A context manager whose ``__enter__`` returns the :class:`~shapetrace.Trace`.

        Raises:
            ShapetraceError: a bad argument (named in the message).
        """
        from shapetrace.core.options import check_choice, check_int
        from shapetrace.record.script import FirstPassFilter
        from shapetrace.record.tracing import _TraceBlock, trace

        if self.project_ignore:  # [tool.shapetrace] ignore, then the test's own
            own = ignore.split(",") if isinstance(ignore, str) else list(ignore)
            ignore = [*self.project_ignore, *own]
        fail_on = check_choice(
            "shapetrace fixture",
            "fail_on",
            fail_on or self.project.get("fail-on", "never"),
            ("error", "warning", "never"),
        )
        if max_calls is None:
            max_calls = self.project.get("max-calls")
        if max_calls is None:
            block = trace(model, ops=ops, ignore=ignore)
        else:
            check_int("shapetrace fixture", "max_calls", max_calls, minimum=1)
            first_passes = FirstPassFilter(max_calls)
            block = _TraceBlock(model, ops, ignore, root_filter=first_passes)
            block.trace._meta["passes"] = first_passes.passes  # as run_script keeps them
        fixture_block = _FixtureBlock(block, self.traces)
        if fail_on != "never":
            self.judged.append((block.trace, fail_on))
        self._blocks.append(fixture_block)
        return fixture_block

    def close(self) -> None:
        """Close blocks the test entered and never left (hooks must not leak)."""
        for block in reversed(self._blocks):
            if block.open:
                block.__exit__(None, None, None)


@pytest.fixture
def shapetrace(request: pytest.FixtureRequest) -> Generator[ShapetraceFixture, None, None]:
    """``with shapetrace(model) as t:`` traces like ``shapetrace.trace`` and cleans up after the test."""
    _section_format(request.config)  # a bad [tool.shapetrace] format: this test errors, saying so
    tracer = ShapetraceFixture(
        request.node.stash.setdefault(_TRACES, []),
        project=_project_config(request.config),
        judged=request.node.stash.setdefault(_FAIL_ON, []),
    )
    request.config.stash[_TRACING_TEST] = True
    try:
        yield tracer
    finally:
        request.config.stash[_TRACING_TEST] = False
        tracer.close()


def _project_config(config: pytest.Config) -> dict[str, Any]:
    """``[tool.shapetrace]`` in the pyproject.toml of pytest's rootdir, read once per run."""
    if _CONFIG not in config.stash:
        from shapetrace.core.project_config import load_config

        path = config.rootpath / "pyproject.toml"
        config.stash[_CONFIG] = load_config(path if path.is_file() else None)
    return config.stash[_CONFIG]


def _check_fail_on(item: pytest.Item) -> None:
    """Fail a test whose traces have a finding that reaches their ``fail-on``, listing them as the report does."""
    judged = item.stash.get(_FAIL_ON, [])
    if not judged:  # most tests: nothing to import (a project without torch never loads it)
        return
    from shapetrace.analyze.checks import at_least
    from shapetrace.core.finding import Findings

    failing = []
    for trace, fail_on in judged:
        failing += at_least(trace.findings, fail_on)  # type: ignore[arg-type]
    if failing:
        levels = sorted({fail_on for _, fail_on in judged})
        pytest.fail(
            f"shapetrace: findings reached fail-on = {' / '.join(levels)} (the fixture's fail_on, or "
            f"[tool.shapetrace] in pyproject.toml):\n{Findings(failing)!r}",
            pytrace=False,
        )


# --------------------------------------------------------------- snapshots
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    from shapetrace.testing.snapshot import DIRECTORY, SnapshotTarget, bound_to, snapshot_stem

    stem = snapshot_stem(item.path, item.nodeid)
    target = SnapshotTarget(
        directory=item.path.parent / DIRECTORY,
        test=stem,
        update=item.config.getoption("shapetrace_update"),
        written=item.config.stash[_WRITTEN],
        outcomes=item.config.stash[_OUTCOMES],
    )
    with bound_to(target):
        result = yield
    _check_fail_on(item)
    item.config.stash[_RUN].setdefault(item.path, {})[stem] = True  # reached its end without raising
    return result


def pytest_collection_finish(session: pytest.Session) -> None:
    from shapetrace.testing.snapshot import snapshot_stem

    for item in session.items:  # every test to run; one that never passes keeps its snapshots
        if isinstance(item, pytest.Function):
            session.config.stash[_RUN].setdefault(item.path, {})[snapshot_stem(item.path, item.nodeid)] = False


def _unused_snapshots(config: pytest.Config) -> list[Path]:
    """Snapshot files of the test files run in full that no test checked, as syrupy
    reports them. A test that failed or was skipped keeps its snapshots: it may
    not have reached its ``assert_snapshot``."""
    from shapetrace.testing.snapshot import DIRECTORY, snapshot_stem

    if config.getoption("exitfirst", False) or config.getoption("maxfail", 0):
        return []  # the run may have stopped before a file's last test
    outcomes: dict[Path, str] = config.stash[_OUTCOMES]
    checked = set(outcomes)
    unused = []
    for test_file, tests in config.stash[_RUN].items():
        if test_file in config.stash[_PARTIAL]:
            continue
        directory = test_file.parent / DIRECTORY
        prefix = snapshot_stem(test_file, "x::")[:-1]  # "test_model."
        kept = [stem for stem, passed in tests.items() if not passed]
        for path in sorted(directory.glob(f"{prefix}*.json")):
            name = path.name[: -len(".json")]
            if path in checked or any(name == stem or name.startswith(stem + ".") for stem in kept):
                continue
            unused.append(path)
    return unused


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, [])
    if written:
        terminalreporter.write_sep("-", f"shapetrace: wrote {len(written)} shape snapshot{'s' * (len(written) != 1)}")
        for path in written:
            terminalreporter.write_line(str(path))
    if _RUN not in config.stash:
        return
    unused = _unused_snapshots(config)
    update = config.getoption("shapetrace_update")
    if unused:
        verb = "deleted" if update else "found"
        terminalreporter.write_sep(
            "-", f"shapetrace: {verb} {len(unused)} unused shape snapshot{'s' * (len(unused) != 1)}"
        )
        for path in unused:
            if update:
                path.unlink(missing_ok=True)
            terminalreporter.write_line(str(path))
    outcomes = list(config.stash[_OUTCOMES].values())
    if not outcomes and not unused:
        return
    counts = [f"{outcomes.count(kind)} {kind}" for kind in ("passed", "failed", "written") if kind in outcomes]
    if unused:
        counts.append(
            f"{len(unused)} unused, deleted"
            if update
            else f"{len(unused)} unused (pytest --shapetrace-update deletes them)"
        )
    total = len(outcomes)
    terminalreporter.write_line(f"shapetrace: {total} shape snapshot{'s' * (total != 1)}: {', '.join(counts)}")


# -------------------------------------------------------- failure reports
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    traces = item.stash.get(_TRACES, [])
    if report.when == "call" and report.failed and traces and item.config.getoption("shapetrace"):
        for number, trace in enumerate(traces, 1):
            title = "shapetrace" if len(traces) == 1 else f"shapetrace {number}/{len(traces)}"
            report.sections.append((title, _render(trace, _section_format(item.config))))
    return report


# The formats of ``[tool.shapetrace] format`` a test report shows as text; the
# pictures and the page (``svg``, ``png``, ``html``) show as the table there.
SECTION_FORMATS = ("table", "tree", "source", "json", "dot", "github", "sarif")
_AS_TABLE = ("svg", "png", "html")


def _section_format(config: pytest.Config) -> str:
    """``format`` of ``[tool.shapetrace]`` as a report section shows it. Raises
    ``ShapetraceError`` (one line, the choices) for a name that is no format: the
    fixture checks it as it starts, so a test using it errors with that line."""
    name = _project_config(config).get("format", "table")
    if name in _AS_TABLE:
        return "table"
    if name not in SECTION_FORMATS:
        from shapetrace.errors import ShapetraceError

        raise ShapetraceError(
            f"[tool.shapetrace] format {name!r} is not a format (choose from {', '.join(SECTION_FORMATS + _AS_TABLE)})"
        )
    return name


def _render(trace: Trace, format: str = "table") -> str:
    """The trace as ``format`` (one of ``SECTION_FORMATS``), plain text; the human
    formats end with the findings block, as the command writes them."""
    from shapetrace.render.report import findings_block, make_console, report

    text = io.StringIO()
    console = make_console(text, color=False)
    try:
        if format == "table":
            console.print(report(trace))
        elif format in ("tree", "source"):
            if format == "tree":
                console.print(trace.tree())
            else:
                text.write(trace.annotate().rstrip("\n") + "\n")
            if trace.findings:
                console.print()
                console.print(findings_block(trace.findings))
        elif format == "json":
            text.write(trace.to_json(indent=1))
        elif format == "dot":
            text.write(trace.graph().source)
        else:
            from shapetrace.render.findings_data import github_annotations, sarif_log

            text.write(github_annotations(trace.findings) if format == "github" else sarif_log(trace.findings))
    except Exception as error:  # a broken report must not turn one failed test into an INTERNALERROR
        return f"shapetrace could not render the trace: {type(error).__name__}: {error}"
    return text.getvalue()


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    if op != "==":
        return None
    from shapetrace.testing.shape_compare import explain_comparison

    return explain_comparison(left, right, tuples_are_shapes=config.stash.get(_TRACING_TEST, False))
