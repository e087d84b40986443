"""``Finding``: one diagnosed shape bug, ruff-style."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from shapetrace.core.records import Location

if TYPE_CHECKING:
    from rich.console import RenderableType

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One shape bug found in a trace, ruff-style.

    >>> [f.code for f in t.findings]
    ['ST003']
    >>> t.findings[0].name, t.findings[0].severity
    ('hardcoded-batch-size', 'warning')
    >>> t.findings[0].hint
    'read the batch size from the data in forward (batch_size = x.size(0)) and use it instead of self.batch_size'

    Attributes:
        code: the stable code, ``"ST001"`` to ``"ST011"`` (see the catalogue
            in the README); codes are never reused.
        name: the code's kebab-case name, ``"batch-first-mismatch"``.
        severity: ``"error"`` (the result is wrong), ``"warning"`` (it is
            wrong for other inputs, or likely wrong) or ``"info"``.
        message: one line naming the tensors, their shapes and the call.
        location: the user's line the finding points at; None when unknown.
        hint: the fix, as a code change (``"use x.transpose(0, 1)"``); ``""`` when none is known.
        call_id: ``Call.id`` of the call the finding is about; None when it
            is about the trace as a whole.
    """

    code: str
    name: str
    severity: Severity
    message: str
    location: Location | None = None
    hint: str = ""
    call_id: int | None = None


class Findings(list[Finding]):
    """``t.findings``: a plain list of :class:`Finding` that shows itself readably.

    It indexes, compares (``t.findings == []``), pickles and serialises as a
    list; ``repr``/``print``, ``rich.print`` and a notebook cell show each
    finding as the report does: code, name, severity, message,
    ``--> file:line`` and ``help:``.

    >>> print(t.findings)                                  # doctest: +SKIP
    1 finding
    ST003 hardcoded-batch-size (warning): view(5, 30, 1) at line 36 ...
     --> demos/lstm_forecaster.py:36
      |  input_seq = input_seq.view(self.batch_size, seq_len, 1)
    help: read the batch size from the data in forward ...
    """

    __slots__ = ()

    def __repr__(self) -> str:
        if not self:
            return "[]"  # as a list: an empty result reads as one
        from shapetrace.render.findings_view import findings_plain

        return findings_plain(self)

    __str__ = __repr__

    def __rich__(self) -> RenderableType:
        from shapetrace.render.findings_view import findings_renderable

        return findings_renderable(self)

    def _repr_html_(self) -> str:
        """A notebook cell's view (Jupyter calls it)."""
        from shapetrace.render.findings_view import findings_html

        return findings_html(self)
