"""Run one measurement in a child process with a time limit, so that a peer tool
that hangs or crashes on one model costs one cell of the table, not the run.

On Linux the child is forked from the parent, which has imported torch and the
model libraries once (importing neuralforecast alone takes ~20 s on a loaded
machine): each (model, tool) measurement gets a fresh process without paying
the imports again. The parent must not have run torch code that starts OpenMP
threads before forking (it only imports and reads labels). Elsewhere the child
is spawned.
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Callable
from typing import Any


def run_isolated(function: Callable[..., dict], args: tuple, timeout_s: float) -> dict:
    """``function(*args)`` in a child process; its dict, or what went wrong as a dict:

    - ``{"timeout": timeout_s}``: still running after ``timeout_s`` seconds (wall
      clock, from the child's start); the child is killed;
    - ``{"error": "ExcType: first line"}``: it raised;
    - ``{"error": "crashed (exit code N)"}``: it died without answering (a
      segfault gives a negative N, the signal's number).
    """
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, function, args), daemon=True)
    child.start()
    sender.close()  # the child holds the only writing end: its death ends recv()
    try:
        if not receiver.poll(timeout_s):
            child.kill()
            child.join()
            return {"timeout": timeout_s}
        try:
            result: dict = receiver.recv()
        except EOFError:
            child.join()
            return {"error": f"crashed (exit code {child.exitcode})"}
    finally:
        receiver.close()
    child.join(10)
    if child.is_alive():  # answered but never exited (a stuck thread of a peer)
        child.kill()
        child.join()
    return result


def _child(sender: Any, function: Callable[..., dict], args: tuple) -> None:
    try:
        result = function(*args)
    except BaseException as exc:  # the parent turns any failure into a cell
        traceback.print_exc(file=sys.stderr)
        result = {"error": f"{type(exc).__name__}: {first_line(exc)}"}
    sender.send(result)
    sender.close()


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
