"""Run one measurement in a child process with a time limit, so that a peer tool
that hangs or crashes on one model costs one cell of the table, not the run.

The child is forked (``os.fork``) from the parent, which has imported torch and
the model libraries once and built each model once (importing neuralforecast
alone takes ~20 s on a loaded machine, and transformers imports a model's code
on its first build): each (model, tool) measurement gets a fresh process without
paying that again. A plain fork, not ``multiprocessing``: torchlens refuses to
capture in a ``multiprocessing`` child, and accepts a forked one that imported
it itself (the parent never imports the peers). The parent runs torch with one
thread only, so no OpenMP pool exists to be broken by the fork. Where there is
no ``fork``, the child is spawned by ``multiprocessing``.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable


def run_isolated(function: Callable[..., dict], args: tuple, timeout_s: float) -> dict:
    """``function(*args)`` in a child process; its dict, or what went wrong as a dict:

    - ``{"timeout": timeout_s}``: still running after ``timeout_s`` seconds (wall
      clock, from the child's start); the child is killed;
    - ``{"error": "ExcType: first line"}``: it raised;
    - ``{"error": "crashed (exit code N)"}``: it died without answering (a
      segfault gives a negative N, the signal's number).
    """
    if not hasattr(os, "fork"):
        return _spawned(function, args, timeout_s)
    read_end, write_end = os.pipe()
    sys.stdout.flush(), sys.stderr.flush()  # or the child's exit flushes the parent's buffers again
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into the parent's code
        os.close(read_end)
        code = 0
        try:
            gc.freeze()  # the inherited heap: each round's collection then scans only the measurement's objects
            _answer(write_end, function, args)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        payload = _read(read_end, timeout_s)
    finally:
        os.close(read_end)
    if payload is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {"timeout": timeout_s}
    _, status = os.waitpid(pid, 0)
    if not payload:
        return {"error": f"crashed (exit code {os.waitstatus_to_exitcode(status)})"}
    return pickle.loads(payload)


def _answer(fd: int, function: Callable[..., dict], args: tuple) -> None:
    try:
        result = function(*args)
    except BaseException as exc:  # the parent turns any failure into a cell
        traceback.print_exc(file=sys.stderr)
        result = {"error": f"{type(exc).__name__}: {first_line(exc)}"}
    sys.stdout.flush(), sys.stderr.flush()
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(pickle.dumps(result))


def _read(fd: int, timeout_s: float) -> bytes | None:
    """All the child writes until it closes the pipe (its exit); None past ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _spawned(function: Callable[..., dict], args: tuple, timeout_s: float) -> dict:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pending = pool.apply_async(function, args)
        try:
            return pending.get(timeout_s)
        except multiprocessing.TimeoutError:
            return {"timeout": timeout_s}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {first_line(exc)}"}


def first_line(exc: BaseException, width: int = 160) -> str:
    """The first line of ``exc``'s message, cut to ``width`` characters."""
    text = str(exc).strip().splitlines()
    return text[0][:width] if text else ""


def cell_text(result: dict | None) -> str:
    """One table cell: ``2.37×``, ``timed out after 60 s``, ``fails: <one line>`` or ``–``."""
    if not result:
        return "–"
    if "timeout" in result:
        return f"timed out after {result['timeout']:g} s"
    if "error" in result:
        return "fails: " + result["error"].replace("|", "/").replace("\n", " ")[:70]
    return f"{result['ratio']:.2f}×"
