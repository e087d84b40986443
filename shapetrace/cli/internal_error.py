"""A bug of shapetrace's own, met by a command: one line on stderr, not a traceback.

A traceback from inside shapetrace reads like the user's error; the line says
whose it is, what shapetrace was doing, and how to get the traceback for a bug
report (``SHAPETRACE_DEBUG=1`` raises it as it is). When a script ran first, the
command still exits with the script's own code where that is not 0: tracing
never changes how the user's program ends (``run_command``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from shapetrace.cli.exit_codes import EXIT_INTERNAL
from shapetrace.errors import ShapetraceError

DEBUG_VARIABLE = "SHAPETRACE_DEBUG"


def report_internal_error(error: Exception, doing: str) -> int:
    """Print ``shapetrace: internal error while {doing}: TypeError: ...`` to stderr and
    return ``EXIT_INTERNAL``; with ``SHAPETRACE_DEBUG`` set (non-empty, not ``0``),
    re-raise ``error`` instead."""
    if os.environ.get(DEBUG_VARIABLE, "0") not in ("", "0"):
        raise error
    text = str(error).splitlines()[0] if str(error) else ""
    print(
        f"shapetrace: internal error while {doing}: {type(error).__name__}"
        + (f": {text}" if text else "")
        + f" (a bug in shapetrace; {DEBUG_VARIABLE}=1 shows its traceback for a report)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def guarded(doing: str, step: Callable[[], int]) -> int:
    """``step()``'s exit code, or ``report_internal_error``'s when it raises an
    ``Exception`` (a ``ShapetraceError``, the user's bad input, passes through)."""
    try:
        return step()
    except ShapetraceError:
        raise
    except Exception as error:
        return report_internal_error(error, doing)
