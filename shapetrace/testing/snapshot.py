"""Shape snapshots: a test's traced shapes and dtypes, kept as JSON next to it.

``Trace.assert_snapshot()`` compares the trace with
``<test dir>/__shapetrace__/<file>.<test>.json`` (the file stem keeps two test
files of one folder apart); ``pytest --shapetrace-update`` writes it. The
pytest plugin tells this module which test is running through a context
variable, so traces taken with ``shapetrace.trace`` work as well as the
fixture's. Devices are left out so that a snapshot holds on CPU and GPU.

Top-level imports stay light: the plugin imports this module for every test,
also in projects that never trace anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapetrace.errors import ShapetraceError

if TYPE_CHECKING:
    from shapetrace.core.records import Call
    from shapetrace.core.trace import Trace

FORMAT = "shapetrace-snapshot"
VERSION = 1
DIRECTORY = "__shapetrace__"
UPDATE_FLAG = "--shapetrace-update"
_UNSAFE = re.compile(r"[^\w.\[\]=+-]+")


@dataclasses.dataclass
class SnapshotTarget:
    """Where the running test keeps its snapshots, and whether to rewrite them."""

    directory: Path
    test: str
    update: bool = False
    # Shared with the plugin, which lists them at the end of the run.
    written: list[Path] = dataclasses.field(default_factory=list)
    taken: set[str] = dataclasses.field(default_factory=set)
    # Shared with the plugin: each snapshot file checked this run -> "passed", "failed" or "written".
    outcomes: dict[Path, str] = dataclasses.field(default_factory=dict)

    def path_for(self, name: str | None) -> Path:
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        stem = self.test if name is None else f"{self.test}.{_safe(name)}"
        if stem in self.taken:
            raise ShapetraceError(
                f"snapshot {stem!r} was already taken in this test; give each assert_snapshot() call its own name"
            )
        self.taken.add(stem)
        return self.directory / f"{stem}.json"


def snapshot_stem(test_file: Path, nodeid: str) -> str:
    """``tests/test_model.py::TestA::test_x[5]`` -> ``test_model.TestA.test_x[5]``."""
    _, _, inside = nodeid.partition("::")
    return _safe(f"{test_file.stem}.{inside.replace('::', '.')}")


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)


_current: contextvars.ContextVar[SnapshotTarget | None] = contextvars.ContextVar(
    "shapetrace_snapshot_target", default=None
)


@contextlib.contextmanager
def bound_to(target: SnapshotTarget) -> Iterator[SnapshotTarget]:
    """Make ``target`` the running test's snapshot place inside the block."""
    token = _current.set(target)
    try:
        yield target
    finally:
        _current.reset(token)


# ------------------------------------------------------------ the document
def model_calls(trace: Trace) -> list[Call]:
    """The calls a snapshot keeps: the model's, and the top-level ops that use what it
    made (a loss). Top-level ops on other tensors (the test's ``torch.randn`` and
    ``.view`` making the input) say how the test made its input, not what the model does."""
    made: set[int] = set()
    kept = []
    for call in trace.calls:
        if call.kind == "op" and call.parent is None and not made.intersection(call.input_ids):
            continue
        kept.append(call)
        made.update(call.output_ids)
    return kept


def snapshot_calls(trace: Trace) -> list[dict[str, Any]]:
    """One entry per call of ``model_calls``: its name, type, depth and tensors as (name, shape, dtype)."""
    from shapetrace.core.tensor_meta import dtype_name
    from shapetrace.core.text import tensor_name

    def tensors(call: Call, output: bool) -> list[list[Any]]:
        metas = call.outputs if output else call.inputs
        return [[tensor_name(call, m, output=output), list(m.shape), dtype_name(m.dtype)] for m in metas]

    return [
        {
            "call": call.qualname or "(root)",
            "type": call.type,
            "depth": call.depth,
            "inputs": tensors(call, False),
            "outputs": tensors(call, True),
        }
        for call in model_calls(trace)
    ]


def _dump(calls: list[dict[str, Any]]) -> str:
    """JSON with one call a line, so that a changed shape is a one-line git diff."""
    body = ",\n".join(f"  {json.dumps(call)}" for call in calls)
    return f'{{"format": "{FORMAT}", "version": {VERSION}, "calls": [\n{body}\n]}}\n'


def _read(path: Path) -> list[dict[str, Any]] | None:
    """The saved calls, or None when there is no snapshot yet."""
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as bad:
        raise ShapetraceError(f"cannot read shape snapshot {path}: {bad}; rewrite it with {UPDATE_FLAG}") from None
    calls = document.get("calls", []) if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("version") != VERSION
        or not isinstance(calls, list)
        or not all(_is_entry(call, len(calls)) for call in calls)
    ):
        raise ShapetraceError(f"{path} is not a version {VERSION} shape snapshot; rewrite it with {UPDATE_FLAG}")
    return calls


def _is_entry(call: object, count: int) -> bool:
    """One call as ``_dump`` writes it (a hand-edited depth of 10**9 would print gigabytes)."""

    def tensors(value: object) -> bool:
        return isinstance(value, list) and all(
            isinstance(t, list)
            and len(t) == 3
            and isinstance(t[0], str)
            and isinstance(t[2], str)
            and isinstance(t[1], list)
            and all(type(d) is int for d in t[1])
            for t in value
        )

    return (
        isinstance(call, dict)
        and isinstance(call.get("call"), str)
        and isinstance(call.get("type"), str)
        and type(call.get("depth")) is int
        and 0 <= call["depth"] < max(count, 1)
        and tensors(call.get("inputs"))
        and tensors(call.get("outputs"))
    )


def _line(call: dict[str, Any]) -> str:
    """``  lstm: LSTM  input (5, 30, 1) float32 -> output (5, 30, 64) float32``."""

    def tensors(entries: list[list[Any]]) -> str:
        named = len(entries) > 1  # a lone tensor needs no name, as in the table
        return ", ".join(
            " ".join([name] * (named and bool(name)) + [str(tuple(shape)), dtype]) for name, shape, dtype in entries
        )

    flow = " -> ".join([tensors(call["inputs"]), tensors(call["outputs"])]).strip()
    return f"{'  ' * call['depth']}{call['call']}: {call['type']}  {flow}"


def _diff(saved: list[dict[str, Any]], now: list[dict[str, Any]]) -> str:
    lines = difflib.unified_diff(
        [_line(c) for c in saved], [_line(c) for c in now], "snapshot", "this run", n=1, lineterm=""
    )
    return "\n".join(lines)


# ------------------------------------------------------------- the check
def assert_snapshot(trace: Trace, name: str | None = None) -> None:
    """Compare the trace's shapes and dtypes with the test's saved snapshot.

    Fails with a diff of the calls that changed; with ``pytest
    --shapetrace-update`` it writes the snapshot instead.
    """
    __tracebackhide__ = True
    target = _current.get()
    if target is None:
        raise ShapetraceError("assert_snapshot() works inside a pytest test run with the shapetrace plugin")
    path = target.path_for(name)
    now = snapshot_calls(trace)
    shown = _shown(path)
    saved = _read_for(path, target.update)
    if saved == now:
        target.outcomes[path] = "passed"
        return
    if target.update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(now), encoding="utf-8")
        target.written.append(path)
        target.outcomes[path] = "written"
        return
    target.outcomes[path] = "failed"
    if saved is None:
        raise AssertionError(f"no shape snapshot {shown}; run pytest {UPDATE_FLAG} to write it")
    raise AssertionError(
        f"shapes differ from the snapshot {shown} (run pytest {UPDATE_FLAG} to accept them):\n{_diff(saved, now)}"
    )


def _shown(path: Path) -> str:
    from shapetrace.core.text import short_path

    return short_path(str(path))


def _read_for(path: Path, update: bool) -> list[dict[str, Any]] | None:
    """A broken snapshot is an error, unless it is about to be rewritten."""
    __tracebackhide__ = True  # pytest shows the test's line, not ours
    try:
        return _read(path)
    except ShapetraceError:
        if update:
            return None
        raise
