"""The findings catalogue: one module per detector, registered here.

A detector is a pure function ``Trace -> Iterable[Finding]``; it sees only
the trace, so findings of a loaded trace equal those of the live one.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from shapetrace.analyze.cause_rank import rank_by_cause
from shapetrace.core.finding import SEVERITY_RANK, Finding, Severity

if TYPE_CHECKING:
    from shapetrace.core.records import Call
    from shapetrace.core.trace import Trace

Detector = Callable[["Trace"], Iterable[Finding]]

# Modules that register detectors, imported on first use.
DETECTOR_MODULES: tuple[str, ...] = (
    "batch_first",
    "view_scramble",
    "hardcoded_batch",
    "noncontiguous_view",
    "loss_broadcast",
    "bidirectional_last_step",
    "hidden_state",
    "device",
    "dtype",
    "features",
    "variation",
    "view_cuts_axes",
    "index_wrong_axis",
    "squeeze_batch",
    "uneven_shard",
    "state_structure",
    "loss_resolution",
    "positional_table",
    "class_dim",
    "over_batch",
    "softmax_axis",
    "skip_size",
    "class_target",
    "unregistered_layer",
    "mask_head_order",
    "attention_over_heads",
    "padded_last_step",
    "mask_on_queries",
    "mask_on_heads",
)


@dataclasses.dataclass(frozen=True)
class CheckInfo:
    code: str
    name: str
    severity: Severity
    summary: str
    detector: Detector


REGISTRY: dict[str, CheckInfo] = {}


def register(code: str, name: str, severity: Severity, summary: str) -> Callable[[Detector], Detector]:
    """Decorator adding a detector to the catalogue under a code never reused.

    Raises RuntimeError when another detector holds ``code``. The same detector (one
    module and name) registering again replaces itself: its module ran twice while
    this package stayed imported, as after pytester's in-process runs, which drop the
    modules first imported during the run from ``sys.modules`` (the detectors, loaded
    by the run's first ``t.findings``) and keep the ones imported before (this package)."""

    def add(detector: Detector) -> Detector:
        held = REGISTRY.get(code)
        if held is not None and _identity(held.detector) != _identity(detector):
            raise RuntimeError(f"finding code {code} registered twice")
        REGISTRY[code] = CheckInfo(code, name, severity, summary, detector)
        return detector

    return add


def _identity(detector: Detector) -> tuple[str, str]:
    return getattr(detector, "__module__", ""), getattr(detector, "__qualname__", repr(detector))


def finding(code: str, call: Call, message: str, hint: str = "", severity: Severity | None = None) -> Finding:
    """A finding of a registered code about ``call``, at its line."""
    info = REGISTRY[code]
    return Finding(code, info.name, severity or info.severity, message, call.location, hint, call.id)


def load_detectors() -> dict[str, CheckInfo]:
    for module in DETECTOR_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return REGISTRY


def run_checks(trace: Trace, ignore: Iterable[str] = ()) -> list[Finding]:
    """Every finding of every check not ignored; one per code and line, since
    a loop or a second batch repeats the same mistake. Causes first: a finding
    whose fix makes another go away comes before it (``analyze/cause_rank.py``),
    otherwise by severity, then file and line, then code."""
    skipped = set(ignore)
    findings: list[Finding] = []
    seen: set[tuple[str, object]] = set()
    for code, info in sorted(load_detectors().items()):
        if code in skipped:
            continue
        for found in info.detector(trace):
            key = (code, found.location if found.location is not None else found.message)
            if key not in seen:
                seen.add(key)
                findings.append(found)
    return rank_by_cause(_caught_errors_told(findings, trace), trace)


def _caught_errors_told(findings: list[Finding], trace: Trace) -> list[Finding]:
    """A finding about a call whose error the program caught (``try: model(probe)
    except RuntimeError``), the run ending without one, is ``info``: the program saw
    the error and went on, so it decides no ``--fail-on``; the message says so. An
    error that ended the run keeps its findings' severities."""
    if trace.error is not None:
        return findings
    failed = {call.id for call in trace.calls if call.error is not None and call.error != "interrupted"}
    return [
        dataclasses.replace(found, severity="info", message=f"{found.message} (the program caught the error it raised)")
        if found.call_id in failed and found.severity != "info"
        else found
        for found in findings
    ]


def at_least(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    """Findings of ``severity`` or worse."""
    rank = SEVERITY_RANK[severity]
    return [f for f in findings if SEVERITY_RANK[f.severity] >= rank]


__all__ = ["REGISTRY", "CheckInfo", "Finding", "at_least", "finding", "load_detectors", "register", "run_checks"]
