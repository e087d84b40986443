"""Shared by the findings tests: tracing an example model, reading its findings."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType

import shapetrace
from shapetrace.analyze.checks import Finding
from tests.models.correct_models import Example

BUGS = Path(__file__).resolve().parent.parent / "demos" / "bugs"


def traced(example: Example, **options) -> shapetrace.Trace:
    """The trace of one forward pass; an error the model raises is kept in it."""
    model, inputs = example
    try:
        with shapetrace.trace(model, **options) as t:
            model(*inputs)
    except Exception:  # the trace keeps it: t.error
        pass
    return t


def codes(trace: shapetrace.Trace) -> set[str]:
    return {finding.code for finding in trace.findings}


def only(trace: shapetrace.Trace, code: str) -> Finding:
    """The single finding of ``code``."""
    found = [finding for finding in trace.findings if finding.code == code]
    assert len(found) == 1, trace.findings
    return found[0]


def line_of(module: ModuleType, text: str) -> int:
    """The number of the one line of ``module``'s source that contains ``text``."""
    lines = [n for n, line in enumerate(inspect.getsource(module).splitlines(), 1) if text in line]
    assert len(lines) == 1, (text, lines)
    return lines[0]
