"""Every exception and warning shapetrace raises on purpose, in one place.

All errors share one base class, :class:`ShapetraceError`, so a caller can
catch them together; the ones a user may want to tell apart have their own
class. They are exported from ``shapetrace`` and report as ``shapetrace.X``
in tracebacks (``__module__`` is set below), wherever they are defined.

>>> import shapetrace
>>> try:
...     shapetrace.load("{}")
... except shapetrace.TraceFormatError as bad:
...     print(bad)
not a shapetrace trace (no "format": "shapetrace-trace" field)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shapetrace.core.records import Call

__all__ = [
    "CollectiveMismatchError",
    "GraphTooLargeError",
    "RecordedError",
    "ShapetraceError",
    "ShapetraceWarning",
    "SourceNotFoundError",
    "SpecSyntaxError",
    "TraceFormatError",
    "UnknownCallError",
    "UnknownTensorError",
]


class ShapetraceError(Exception):
    """Base of every error shapetrace raises for bad input or usage.

    The message is one line that names the bad value and, where it helps,
    the parameter it was given to and the values allowed.
    """


class ShapetraceWarning(UserWarning):
    """Something the user should know about how a trace was taken (a module
    that could not be hooked, a model traced on the wrong thread...)."""


def _did_you_mean(key: str, known: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)


class UnknownCallError(ShapetraceError, KeyError):
    """A module name that the trace does not hold (``t["lstmm"]``).

    Attributes: ``name`` (the name asked for), ``close_matches`` (up to three
    module names of the trace that look alike, best first).
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        close = _did_you_mean(name, known)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"no module call named {name!r} in this trace{hint}")
        self.name = name
        self.close_matches = close

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class UnknownTensorError(ShapetraceError, KeyError):
    """A key of an :func:`~shapetrace.assert_shapes` spec that names no tensor
    (nor child module) of a call.

    Attributes: ``key`` (the key given), ``close_matches`` (keys of that call
    that look alike, best first).
    """

    def __init__(self, key: str, call: Call, known: list[str], *, what: str = "tensor") -> None:
        close = _did_you_mean(key, known)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; it has {', '.join(known)}"
        where = f"call {call.name!r}" if call.name else "the root call"
        super().__init__(f"no {what} {key!r} in {where} ({call.type}){hint}")
        self.key = key
        self.close_matches = close

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class SpecSyntaxError(ShapetraceError):
    """A shape spec (``"B T 64"``) that does not parse; names the bad token and its position.

    Attributes: ``spec``, ``token``, ``position`` (0-based, in characters),
    ``reason``.
    """

    def __init__(self, spec: str, token: str, position: int, reason: str) -> None:
        super().__init__(f"bad token {token!r} at position {position} of shape spec {spec!r}: {reason}")
        self.spec, self.token, self.position, self.reason = spec, token, position, reason


class TraceFormatError(ShapetraceError):
    """A saved trace that is not valid shapetrace JSON (or cannot be read)."""


class SourceNotFoundError(ShapetraceError):
    """The file a traced ``forward`` was defined in cannot be read any more
    (``t.annotate()`` of a trace whose source moved)."""


class RecordedError(Exception):
    """Stands in for the exception of a trace loaded from JSON (``t.error``).

    Only its type name (``type_name``) and message survive serialisation.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __str__(self) -> str:
        return f"{self.type_name}: {self.args[0]}" if self.args[0] else self.type_name


class CollectiveMismatchError(ShapetraceError, RuntimeError):
    """``--dist-check``: the ranks called a collective with different shapes,
    dtypes or ops; raised on every rank before the collective runs, with a
    note naming the first upstream call whose shapes differ across ranks."""


class GraphTooLargeError(ShapetraceError):
    """A graph too large for ``dot`` to lay out in a few seconds; the message
    says what to draw instead (``depth=``, ``show_ops=False``)."""


# Tracebacks and reprs show the public name, ``shapetrace.TraceFormatError``,
# not the module that happens to define it.
for _name in __all__:
    globals()[_name].__module__ = "shapetrace"
del _name
