"""``Finding``: one diagnosed shape bug, ruff-style."""

from __future__ import annotations

import dataclasses
from typing import Literal

from shapetrace.core.records import Location

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
