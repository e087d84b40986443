"""``Finding``: one diagnosed shape bug, ruff-style."""

from __future__ import annotations

import dataclasses
from typing import Literal

from shapetrace.core.records import Location

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclasses.dataclass(frozen=True)
class Finding:
    """A stable ``code`` (``ST001``), its kebab-case ``name``, a one-line
    ``message`` naming the tensors, their shapes and the line, and a ``hint``
    that is a code change."""

    code: str
    name: str
    severity: Severity
    message: str
    location: Location | None = None
    hint: str = ""
    call_id: int | None = None
