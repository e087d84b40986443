"""Tracing the child processes a script starts to run its models.

pytorch/examples' ``mnist_hogwild`` trains in ``mp.Process(target=train)``
children, and ``torch.multiprocessing.spawn(fn, nprocs=2)`` runs ``fn`` in
each child: the script's own process may never call the model. While
``shapetrace run`` runs a script, each such child records its own run as
the script's process does (one pass per input signature per model) and
writes its trace to a folder the parent made; ``run_script`` loads them
when the script is done, and the command reports them after the script's.

- ``fork``: the child is a copy of the parent, the parent's trace block
  included. ``BaseProcess._bootstrap`` (what a child runs first, in both
  start methods) is patched while the script runs; in a child it stops the
  inherited block (in the child only) and records the child's run in a fresh one.
- ``spawn``: a new interpreter, started with ``spawn.get_command_line``'s
  ``-c`` program. That function is patched while the script runs, so that the
  child's program first imports this module (``spawn_main``), which patches
  ``_bootstrap`` there too, then runs multiprocessing's own ``spawn_main``
  with the same arguments.
- Not traced, and counted as such: ``forkserver`` children, children that
  end without returning from their run (``os._exit``, a signal) or are still
  running when the script ends. DataLoader workers are left alone: what they
  run is the data transforms, which ``data_hook.worker_notes`` mentions. A
  ``Pool``'s workers are traced when the pool is closed and joined (its
  ``with`` block terminates them: no trace, and no note either).

An error raised by a child's work ends its trace block as it propagates,
which adds shapetrace's note (``_note_errors``) before multiprocessing prints
it or torch's spawn sends its text to the parent.

The program sees no difference: the same process objects, targets and
arguments in the parent, the same exit codes and outputs; only a spawned
child's ``-c`` program text differs, and in the child its process object's
target is wrapped. A child that cannot write its trace runs unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing.process
import multiprocessing.spawn
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shapetrace.core.trace import Trace

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class ChildOptions:
    """How the children record (as the script: ``run_script``'s settings) and where they write."""

    directory: str
    ops: Any  # OpsSetting
    max_calls: int
    ignore: tuple[str, ...]
    parent: int  # the traced script's pid: only its own children record


@dataclasses.dataclass
class Children:
    """What the script's children left: their traces (in start order) and the
    names of those started that left none."""

    traces: list[Trace] = dataclasses.field(default_factory=list)
    untraced: list[str] = dataclasses.field(default_factory=list)


def _is_loader_worker(process: Any) -> bool:
    target = getattr(process, "_target", None)
    return getattr(target, "__module__", "") == "torch.utils.data._utils.worker"


def _is_plumbing(process: Any) -> bool:
    """A DataLoader worker, a ``Pool``'s worker or a ``Manager``'s server: ended
    by their owner, often by a signal, so their missing trace is no news."""
    module = getattr(getattr(process, "_target", None), "__module__", None) or ""
    return module.startswith(("multiprocessing.", "torch.utils.data."))


def _spawned_fn(process: Any) -> Callable[..., Any] | None:
    """The ``fn`` of a ``torch.multiprocessing.spawn(fn)`` child, whose target is
    torch's ``_wrap(fn, i, ...)``; None for any other process."""
    target = getattr(process, "_target", None)
    args = getattr(process, "_args", ())
    if getattr(target, "__module__", "") == "torch.multiprocessing.spawn" and args and callable(args[0]):
        return args[0]
    return None


def target_name(process: Any) -> str:
    """``train`` for ``mp.Process(target=train)``; ``fn`` for ``torch.multiprocessing.spawn(fn)``
    (its children run torch's ``_wrap(fn, i, ...)``); the class name for a ``run`` override."""
    target = _spawned_fn(process) or getattr(process, "_target", None)
    if target is None:
        return f"{type(process).__name__}.run"
    return getattr(target, "__qualname__", None) or type(target).__name__


def _make_block(options: ChildOptions) -> Any:
    from shapetrace.record.script import script_block  # (script.py installs this module)

    return script_block(options.ops, options.max_calls, options.ignore)


def _bootstrap_wrapper(options: ChildOptions, inherited: Any, original: Callable[..., int]) -> Callable[..., int]:
    """``BaseProcess._bootstrap`` (``original``) that records the child's run
    (``inherited``: the parent's trace block, which a forked child holds a copy of)."""

    def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> int:
        if os.getppid() != options.parent or _is_loader_worker(self):
            return original(self, *args, **kwargs)
        block = None
        with contextlib.suppress(Exception):  # never keeps the child from running
            if inherited is not None:
                inherited.abandon()
            block = _make_block(options)
            block.__enter__()
        if block is None:
            return original(self, *args, **kwargs)
        ended = _note_errors(self, block)
        code = 1
        try:
            code = original(self, *args, **kwargs)
        finally:
            with contextlib.suppress(Exception):
                if not ended:
                    block.__exit__(None, None, None)
                trace = block.trace
                trace._meta["script_exit"] = code
                trace._meta["process"] = {
                    "name": self.name,
                    "pid": os.getpid(),
                    "target": target_name(self),
                    "order": list(getattr(self, "_identity", ())),
                }
                _write(os.path.join(options.directory, f"child-{os.getpid()}.json"), trace.to_json())
        return code

    return _bootstrap


def _note_errors(process: Any, block: Any) -> list[bool]:
    """Make an error raised by the child's work end its trace block, which
    adds shapetrace's note to it, before multiprocessing prints it
    (``BaseProcess._bootstrap``) or ``torch.multiprocessing.spawn`` sends its
    text to the parent (``_wrap`` formats it inside the child). Returns a list
    that holds True once the block has ended.

    The function wrapped is the one whose error those catch: spawn's ``fn``
    (the first of ``_wrap``'s arguments), else the target, else a ``run``
    override; set on this process object, which exists in the child only.
    """
    ended: list[bool] = []

    def noted(work: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(work)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return work(*args, **kwargs)
            except BaseException as error:
                if not ended:
                    ended.append(True)
                    with contextlib.suppress(Exception):
                        block.__exit__(type(error), error, error.__traceback__)
                raise

        return run

    spawned, target = _spawned_fn(process), getattr(process, "_target", None)
    if spawned is not None:
        process._args = (noted(spawned), *process._args[1:])
    elif target is not None:
        process._target = noted(target)
    else:
        process.run = noted(process.run)
    return ended


def _write(path: str, text: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)  # the parent never reads half a file


def _spawn_command_line(options: ChildOptions, original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    settings = dataclasses.asdict(options)

    def get_command_line(**kwds: Any) -> list[str]:
        command = original(**kwds)
        if "-c" not in command:  # a frozen executable: left as it is
            return command
        where = command.index("-c") + 1
        passed = ", ".join(f"{key}={value!r}" for key, value in kwds.items())
        command[where] = (
            f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
            "from shapetrace.record.children import spawn_main; del sys.path[0]; "
            f"spawn_main({settings!r}, {passed})"
        )
        return command

    return get_command_line


def spawn_main(settings: dict[str, Any], **kwds: Any) -> None:
    """A spawned child's program: record its run, then multiprocessing's ``spawn_main``."""
    with contextlib.suppress(Exception):
        options = ChildOptions(**{**settings, "ignore": tuple(settings["ignore"])})
        process_class: Any = multiprocessing.process.BaseProcess
        process_class._bootstrap = _bootstrap_wrapper(options, None, process_class._bootstrap)
    multiprocessing.spawn.spawn_main(**kwds)


@contextlib.contextmanager
def children_traced(ops: Any, max_calls: int, ignore: tuple[str, ...], parent_block: Any) -> Iterator[Children]:
    """Record the children started in the block; ``Children`` is filled when it ends."""
    directory = tempfile.mkdtemp(prefix="shapetrace-children-")
    options = ChildOptions(directory, ops, max_calls, tuple(ignore), os.getpid())
    process_class: Any = multiprocessing.process.BaseProcess
    original_start, original_command = process_class.start, multiprocessing.spawn.get_command_line
    original_bootstrap = process_class._bootstrap
    started: list[Any] = []

    def start(self: Any) -> None:
        if not _is_plumbing(self):
            started.append(self)
        original_start(self)

    result = Children()
    process_class._bootstrap = _bootstrap_wrapper(options, parent_block, original_bootstrap)
    process_class.start = start
    multiprocessing.spawn.get_command_line = _spawn_command_line(options, original_command)
    try:
        yield result
    finally:
        process_class._bootstrap, process_class.start = original_bootstrap, original_start
        multiprocessing.spawn.get_command_line = original_command
        result.traces, traced = _load(directory)
        result.untraced = [process.name for process in started if process.pid not in traced]
        shutil.rmtree(directory, ignore_errors=True)


def _load(directory: str) -> tuple[list[Trace], set[int]]:
    from shapetrace.core.serialize import load
    from shapetrace.errors import ShapetraceError

    traces = []
    for name in os.listdir(directory):
        if name.startswith("child-") and name.endswith(".json"):
            with contextlib.suppress(ShapetraceError, OSError):
                trace = load(os.path.join(directory, name))
                traces.append(trace)
    traces.sort(key=lambda trace: trace.run_info["process"]["order"])
    return traces, {trace.run_info["process"]["pid"] for trace in traces}


def child_label(trace: Trace) -> str:
    """``Process-1 (pid 4242)``: how the report names a child."""
    process = trace.run_info.get("process") or {}
    return f"{process.get('name', '?')} (pid {process.get('pid', '?')})"
