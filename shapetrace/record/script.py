"""Running a user's script as ``__main__`` with every module traced.

A training script runs hundreds of forward passes. Only the first pass of each
distinct input signature of each top-level model is recorded (the short last
batch of an epoch has its own signature, and that is where a hard-coded batch
size breaks); the other passes run with hooks that only compare signatures,
and no op mode at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import runpy
import sys
from collections.abc import Hashable, Sequence

from torch import nn

from shapetrace.core.tensor_meta import collect_metas
from shapetrace.core.trace import Trace
from shapetrace.errors import CollectiveMismatchError, ShapetraceError
from shapetrace.record.as_python import python_sys, run_as_main
from shapetrace.record.children import Children, children_traced
from shapetrace.record.data_hook import in_data_loader
from shapetrace.record.distributed import DistSession, rank_info
from shapetrace.record.module_keys import made_with
from shapetrace.record.recorder import OpsSetting, error_text
from shapetrace.record.tracing import _TraceBlock

DEFAULT_MAX_CALLS = 8


class FirstPassFilter:
    """Accepts a top-level call when its input signature is new for that
    module, up to ``max_calls`` recorded passes per module."""

    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        self.max_calls = max_calls
        self._seen: dict[Hashable, set[tuple]] = {}
        # How many calls each recorded one stands for: itself and the later
        # calls of the same signature (``3`` for the full batches of an epoch
        # of 100 samples in batches of 32), in the order they were recorded.
        self.passes: list[int] = []
        # Whether each recorded call ran inside a DataLoader's fetch (a data
        # transform that is an nn.Module, like torchvision's Normalize), same order.
        self.in_loader: list[bool] = []
        self._recorded: dict[tuple[Hashable, tuple], int] = {}
        # Calls past ``max_calls`` signatures: ``[position of the module's first recorded
        # call, calls, new signatures]`` per module, so the report says what it left out.
        self.beyond: list[list[int]] = []
        self._first: dict[Hashable, int] = {}
        self._beyond_at: dict[Hashable, tuple[list[int], set[tuple]]] = {}

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, key: Hashable) -> bool:
        """Whether to record this top-level call; ``key`` stands for ``module``
        (``ModuleKeys.pass_key``: a module rebuilt at one line has the first's)."""
        seen = self._seen.setdefault(key, set())
        signature = tuple((m.path, m.shape, m.dtype, m.device) for m in collect_metas((args, kwargs)))
        if signature in seen:
            self.passes[self._recorded[(key, signature)]] += 1
            return False
        if len(seen) >= self.max_calls:
            self._left_out(key, signature)
            return False
        seen.add(signature)
        self._first.setdefault(key, len(self.passes))
        self._recorded[(key, signature)] = len(self.passes)
        self.passes.append(1)
        self.in_loader.append(in_data_loader())
        return True

    def _left_out(self, key: Hashable, signature: tuple) -> None:
        entry, signatures = self._beyond_at.get(key) or ([self._first[key], 0, 0], set())
        if not entry[1]:
            self._beyond_at[key] = (entry, signatures)
            self.beyond.append(entry)
        entry[1] += 1
        if signature not in signatures:
            signatures.add(signature)
            entry[2] += 1

    def forget(self, key: int) -> None:
        """The module of ``key`` (its id) was freed: a module given its id later is
        another one (the keys made with it go too: ``made_with``)."""
        for made in [known for known in self._seen if made_with(known, key)]:
            del self._seen[made]
        self._recorded = {seen: at for seen, at in self._recorded.items() if not made_with(seen[0], key)}
        self._first = {known: at for known, at in self._first.items() if not made_with(known, key)}
        self._beyond_at = {known: out for known, out in self._beyond_at.items() if not made_with(known, key)}


class FirstPassesFilter:
    """Accepts the first ``max_calls`` top-level calls of each module, whatever
    their inputs: under torchrun every rank then records the same passes, so
    the ranks' traces line up call by call even when their shapes differ."""

    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        self.max_calls = max_calls
        self._counts: dict[Hashable, int] = {}
        self.in_loader: list[bool] = []  # as FirstPassFilter's
        # As FirstPassFilter's, for the data transforms only: a transform's calls
        # past ``max_calls`` count towards its last recorded one (so that its
        # folded entry says how often it ran); a model's passes stand for themselves.
        self.passes: list[int] = []
        self._last: dict[Hashable, int] = {}  # module id -> the position of its last recorded call

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, key: Hashable) -> bool:
        """Whether to record this top-level call (``key``: as ``FirstPassFilter``'s)."""
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        if count >= self.max_calls:
            last = self._last[key]
            if self.in_loader[last]:
                self.passes[last] += 1
            return False
        self._last[key] = len(self.passes)
        self.in_loader.append(in_data_loader())
        self.passes.append(1)
        return True

    def forget(self, key: int) -> None:
        """As ``FirstPassFilter.forget``."""
        self._counts = {known: n for known, n in self._counts.items() if not made_with(known, key)}
        self._last = {known: at for known, at in self._last.items() if not made_with(known, key)}


@dataclasses.dataclass
class ScriptRun:
    trace: Trace
    exit_code: int
    error: BaseException | None  # what the script raised (SystemExit excluded)
    dist: DistSession | None = None  # under torchrun: this rank's session
    # The child processes' traces (mp.Process, torch.multiprocessing.spawn: children.py).
    children: Children = dataclasses.field(default_factory=Children)


def run_script(
    path: str,
    argv: Sequence[str] = (),
    *,
    ops: OpsSetting = True,
    max_calls: int = DEFAULT_MAX_CALLS,
    ignore: Sequence[str] = (),
    dist_dir: str | None = ".",
    dist_check: bool = False,
    module: str | None = None,
    shown: str | None = None,
    launched: bool = False,
) -> ScriptRun:
    """Run ``path`` as ``__main__`` with ``argv``; return the trace and exit code.

    Under torchrun each rank also writes ``trace.rank{R}.json`` to
    ``dist_dir`` as it goes, and with ``dist_check`` the ranks compare every
    recorded collective before it runs (``record/dist_check.py``).

    With ``module`` (``pkg.train``), run that module as ``python -m`` does
    (``path`` is then its file, found with ``module_file``), from the current
    folder, so its relative imports work.

    The script sees what ``python script.py`` gives it (``record/as_python.py``):
    ``sys.argv[0]`` is ``shown`` (the path as the user typed it; default
    ``path``), its real folder comes first on ``sys.path`` (replacing the
    launcher's entry when ``launched``, as ``shapetrace run`` passes), and
    ``__main__`` is a fresh module. Raises ``ShapetraceError`` when ``path``
    is not a file; the script's own errors are returned in ``error``.
    """
    if not os.path.isfile(path):
        raise ShapetraceError(f"no such script: {path}")
    ranked = rank_info() is not None
    block = script_block(ops, max_calls, ignore, ranked=ranked, dist_dir=dist_dir, dist_check=dist_check)
    # Under torchrun each rank is its own `shapetrace run`: its children are left alone.
    children = contextlib.nullcontext(Children()) if ranked else children_traced(ops, max_calls, tuple(ignore), block)
    exit_code, error = 0, None  # type: tuple[int, BaseException | None]
    try:
        with python_sys(path, shown or path, argv, module=module, replace_path0=launched), children as started, block:
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                run_as_main(os.path.abspath(path))
    except SystemExit as stop:
        exit_code = _exit_code(stop.code)
    except KeyboardInterrupt as interrupt:
        exit_code, error = 130, interrupt
    except Exception as exc:  # the script's own error: reported, not ours
        exit_code, error = 1, exc
    session = block.dist
    if session is not None and session.checker is not None:
        # Ranks still waiting in a check learn that this one has no more collectives.
        try:
            late = session.checker.finish(session, "finished" if error is None else error_text(error))
        except CollectiveMismatchError as timed_out:
            late = timed_out
        if late is not None and error is None:
            exit_code, error = 1, late
    # The report's closing line says how the script ended (see render/report.py).
    block.trace._meta["script_exit"] = exit_code
    return ScriptRun(block.trace, exit_code, error, session, started)


def script_block(
    ops: OpsSetting,
    max_calls: int,
    ignore: Sequence[str],
    *,
    ranked: bool = False,
    dist_dir: str | None = None,
    dist_check: bool = False,
) -> _TraceBlock:
    """The trace block of a script's run (or of a child process's, ``children.py``):
    top-level calls filtered to one pass per input signature (under torchrun,
    ``ranked``: the first ``max_calls`` passes, the same on every rank)."""
    root_filter = FirstPassesFilter(max_calls) if ranked else FirstPassFilter(max_calls)
    block = _TraceBlock(
        None,
        ops,
        ignore,
        root_filter=root_filter,
        ops_at_top=False,
        dist_dir=dist_dir if ranked else None,
        dist_check=dist_check,
    )
    # How many passes each recorded top-level call stands for, filled as the
    # script runs (the findings count the batches of an epoch from it).
    block.trace._meta["passes"] = root_filter.passes
    # Which recorded top-level calls are data transforms (render/sections.py folds them).
    block.trace._meta["in_loader"] = root_filter.in_loader
    before_pass = block._recorder.before_pass
    if before_pass is not None:  # the ops outside the model that made what a pass read (record/before_pass.py)
        block.trace._meta["made_before"] = before_pass.taken
        block.trace._meta["called_from"] = before_pass.called_from
    if isinstance(root_filter, FirstPassFilter):  # the calls of signatures past --max-calls
        block.trace._meta["beyond_max_calls"] = root_filter.beyond
        block.trace._meta["max_calls"] = max_calls
    return block


def module_file(name: str) -> str:
    """The file ``python -m name`` would run (a package's ``__main__.py``)."""
    import importlib.util

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:  # a package
            spec = importlib.util.find_spec(f"{name}.__main__")
    except (ImportError, ValueError) as missing:
        raise ShapetraceError(f"-m {name}: cannot find the module ({missing})") from None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        raise ShapetraceError(f"-m {name}: no module of that name here (run from the folder python -m would)")
    return spec.origin


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it, as Python does
    return 1
