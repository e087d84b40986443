"""One validation path for the options of every public callable.

A bad value raises ``ShapetraceError`` naming the function, the parameter,
what it takes and what it got, on one line:

>>> check_depth("Trace.graph", -1)
Traceback (most recent call last):
    ...
shapetrace.ShapetraceError: Trace.graph(): depth is None (every call) or an int >= 0 (0: top-level calls only), not -1
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from shapetrace.errors import ShapetraceError

T = TypeVar("T")

# The most positions (nodes plus the virtual nodes of rank-crossing edges,
# ``render/graph/size.layout_size``) ``t.graph()`` hands to ``dot`` before it
# refuses with ``GraphTooLargeError``: ``dot``'s time grows as a power (about
# the third) of this size, and benchmarks/graph_size.py measured 3 CPU seconds
# at 1,258-1,408 positions on three families of real traces (a chain of
# layers, residual blocks, time_sequence_prediction's loop; results in
# benchmarks/graph_size.md). 1,200: the smallest of those, rounded down.
MAX_LAYOUT_SIZE = 1200


def _bad(function: str, name: str, takes: str, value: Any) -> ShapetraceError:
    return ShapetraceError(f"{function}(): {name} {takes}, not {value!r}")


def check_flag(function: str, name: str, value: Any) -> bool:
    """``value`` when it is True or False (an int 0 or 1 is not)."""
    if not isinstance(value, bool):
        raise _bad(function, name, "is True or False", value)
    return value


def check_depth(function: str, depth: Any) -> int | None:
    """``depth`` when it is None or an int >= 0."""
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise _bad(function, "depth", "is None (every call) or an int >= 0 (0: top-level calls only)", depth)
    return depth


def check_int(function: str, name: str, value: Any, *, minimum: int) -> int:
    """``value`` when it is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(function, name, f"is an int >= {minimum}", value)
    return value


def check_choice(function: str, name: str, value: T, choices: Collection[Any]) -> T:
    """``value`` when it is one of ``choices``."""
    try:
        known = value in choices
    except TypeError:  # unhashable
        known = False
    if not known:
        raise _bad(function, name, "is one of " + ", ".join(repr(c) for c in choices), value)
    return value
