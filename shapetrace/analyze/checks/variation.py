"""Evidence from ``shapetrace.vary``: runs of one model at several sizes.

``Trace.run_info["variation"]`` lists the sizes a run raised at and the calls
present at some sizes only; the first is the strongest evidence of a
hard-coded size (ST003), the second is data-dependent control flow (ST011).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shapetrace.analyze.checks import finding, register
from shapetrace.analyze.checks._common import at_line, call_label
from shapetrace.core.finding import Finding
from shapetrace.core.trace import Trace


def _variation(trace: Trace) -> dict[str, Any]:
    variation = trace.run_info.get("variation")
    return variation if isinstance(variation, dict) else {}


def _sizes_text(sizes: dict[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())


def _base_sizes(trace: Trace) -> dict[str, int]:
    runs = _variation(trace).get("runs") or [{}]
    return runs[0]


def failures_at_other_sizes(trace: Trace) -> Iterator[Finding]:
    """ST003: a call that worked at the base sizes and raised at others."""
    base = _sizes_text(_base_sizes(trace))
    for failure in _variation(trace).get("failures", []):
        call_id = failure.get("call_id")
        if not isinstance(call_id, int) or not 0 <= call_id < len(trace.calls):
            continue
        call = trace.calls[call_id]
        changed = {k: v for k, v in failure["sizes"].items() if _base_sizes(trace).get(k) != v}
        message = (
            f"{call_label(call)} {at_line(call)} fits only {base}: at {_sizes_text(changed)} it raised "
            f"{failure['error'].splitlines()[0]}"
        )
        hint = (
            "size it from the input instead of a constant: x.size(0) for the batch, -1 for the "
            "dimension a view can infer"
        )
        yield finding("ST003", call, message, hint)


@register(
    "ST011",
    "size-dependent-call",
    "info",
    "a call that runs at some input sizes and not at others (data-dependent control flow)",
)
def check_size_dependent_calls(trace: Trace) -> Iterator[Finding]:
    for entry in _variation(trace).get("unmatched", []):
        call_id = entry.get("call_id")
        if not isinstance(call_id, int) or not 0 <= call_id < len(trace.calls):
            continue
        call = trace.calls[call_id]
        missing = "; ".join(_sizes_text(sizes) for sizes in entry.get("missing_at", []))
        message = (
            f"{call_label(call)} {at_line(call)} runs at {_sizes_text(_base_sizes(trace))} but not at "
            f"{missing}: the forward branches on a size, so one trace does not show every path"
        )
        yield finding(
            "ST011", call, message, "trace each branch (vary the size that decides it) before relying on its shapes"
        )
