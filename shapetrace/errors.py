"""The exceptions shapetrace raises on purpose; all share one base class."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ShapetraceError(Exception):
    """Base of every error shapetrace raises for bad input or usage."""


class UnknownCallError(ShapetraceError, KeyError):
    """A module name that the trace does not hold."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"no module call named {name!r} in this trace{hint}")
        self.name = name
        self.close_matches = close

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class TraceFormatError(ShapetraceError):
    """A saved trace that is not valid shapetrace JSON."""


class RecordedError(Exception):
    """Stands in for the exception of a trace loaded from JSON.

    Only its type name and message survive serialisation.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __str__(self) -> str:
        return f"{self.type_name}: {self.args[0]}" if self.args[0] else self.type_name
