"""The note shapetrace adds to an exception raised inside a traced block."""

from __future__ import annotations

import linecache
import os
import re

from shapetrace.analyze.backward_note import backward_note
from shapetrace.analyze.cause_rank import rank_by_cause, upstream
from shapetrace.analyze.checks._common import pass_root
from shapetrace.analyze.lineage.flow import trace_lineage
from shapetrace.analyze.operand_origin import operand_origins
from shapetrace.analyze.operand_text import operand_labels
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call, Location
from shapetrace.core.text import format_location, format_op, is_library_file
from shapetrace.core.trace import Trace

NOTE_PREFIX = "shapetrace:"


def failing_call(trace: Trace) -> Call | None:
    """The innermost call that raised: the last failed call in execution order."""
    failed = [call for call in trace.calls if call.error is not None]
    return max(failed, key=lambda c: (c.depth, c.id)) if failed else None


def call_path(call: Call) -> str:
    steps = []
    node: Call | None = call
    while node is not None:
        steps.append(format_op(node) if node.kind == "op" else (node.name or f"{node.type} (root)"))
        node = node.parent
    return " > ".join(reversed(steps))


def short_batch_line(trace: Trace, call: Call) -> str | None:
    """``this batch has 1 sample: the short last batch of the DataLoader at train.py:6
    (33 samples in batches of 8, drop_last=False)``, when the pass that raised ran on a
    loader's short last batch (``run_info["loaders"]``): the error then comes after a whole
    epoch that worked, from a size only that batch has (a BatchNorm given one sample in
    training, a batch size baked in, a ``squeeze()`` of a batch of one)."""
    root = pass_root(call)
    if root.kind != "module" or not root.inputs or not root.inputs[0].shape:
        return None
    size = root.inputs[0].shape[0]
    for loader in trace.run_info.get("loaders", ()):
        last, batch_size, count = loader.get("last_batch"), loader.get("batch_size"), loader.get("num_samples")
        if last != size or not batch_size or batch_size == size or count is None:
            continue
        where = f" at {loader['location']}" if loader.get("location") else ""
        samples = "1 sample" if size == 1 else f"{size} samples"
        # (a DistributedSampler splits the samples first: each rank's count is not in the trace)
        total = f"{count:,} samples in " if count % batch_size == last else ""
        return (
            f"this batch has {samples}: the short last batch of the DataLoader{where} "
            f"({total}batches of {batch_size}, drop_last=False)"
        )
    return None


def trace_note(trace: Trace, error: BaseException | None = None) -> str | None:
    """The note for ``error`` (None: unknown), raised in the block ``trace`` recorded."""
    call = failing_call(trace)
    if call is None:
        return _unplaced_note(trace, error) if error is None or isinstance(error, _SHAPE_ERRORS) else None
    what = format_op(call) if call.kind == "op" else f"{call.name or 'the root'} ({call.type})"
    lines = [f"{NOTE_PREFIX} raised by {what} at {format_location(call.location)}"]
    if call.location is not None and call.location.code:
        lines.append(f"    {call.location.code}")
    shapes = ", ".join(operand_labels(call, call.inputs)) or "no tensors"
    lines.append(f"  operands: {shapes}")
    lines.append(f"  call path: {call_path(call)}")
    batch = short_batch_line(trace, call)
    if batch is not None:
        lines.append(f"  data: {batch}")
    explaining, others = split_findings(trace.findings, call, trace)
    origins = [] if explaining else operand_origins(trace, call, trace_lineage(trace))
    if origins:
        lines.append("  explained by:")
        lines += [f"    {line}" for line in origins]
    for label, findings in (("explained by", explaining), ("also found", others)):
        if findings:
            lines.append(f"  {label}:")
        for finding in findings:
            lines.append(f"    {finding.code} {finding.name}: {finding.message}")
            if finding.hint:
                lines.append(f"    help: {finding.hint}")
    return "\n".join(lines)


# Errors a tensor's shape can cause where nothing recorded raised them: PyTorch's own
# (RuntimeError, IndexError, ValueError, TypeError) and a user's assert on a shape; not a
# KeyError of a dataset or an OSError, which no shape finding explains.
_SHAPE_ERRORS = (RuntimeError, IndexError, ValueError, TypeError, AssertionError)


# shapetrace's own files (the script runner's frames start a script's traceback), also
# where it is installed in editable mode, outside site-packages.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _raised_at(error: BaseException | None) -> Location | None:
    """The user's line the error's traceback ends in (its last frame outside an installed
    package: ``preds = torch.cat(preds)``); None without one."""
    tb, found = error.__traceback__ if error is not None else None, None
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = code.co_filename
        if not (is_library_file(filename) or filename.startswith(("<", _PACKAGE))):
            found = Location(filename, tb.tb_lineno, linecache.getline(filename, tb.tb_lineno).strip())
        tb = tb.tb_next
    return found


def _unplaced_note(trace: Trace, error: BaseException | None = None) -> str | None:
    """The note for an error raised where no call was recorded (a ``loss.backward()``
    in a script's own loop, or ``torch.cat(predictions)`` after it, which ``shapetrace
    run`` does not record): the findings about the last call recorded, what ran inside
    it or what made its inputs, as they would explain what it returned; None when there
    are none at warning or error (a KeyError in a dataset)."""
    last = max((c for c in trace.calls if c.parent is None), key=lambda c: c.id, default=None)
    if last is None:
        return None
    explaining, _ = split_findings(trace.findings, last, trace)
    explaining = [f for f in explaining if f.severity in ("warning", "error")]
    if not explaining:
        return None
    what = format_op(last) if last.kind == "op" else f"{last.name or 'the root'} ({last.type})"
    raised = _raised_at(error)
    at = f" at {format_location(raised)}," if raised is not None else ""
    lines = [f"{NOTE_PREFIX} raised{at} after the last call recorded, {what} at {format_location(last.location)}"]
    if raised is not None and raised.code:
        lines.append(f"    {raised.code}")
    lines.append("  explained by:")
    for finding in explaining:
        lines.append(f"    {finding.code} {finding.name}: {finding.message}")
        if finding.hint:
            lines.append(f"    help: {finding.hint}")
    return "\n".join(lines)


def split_findings(findings: list[Finding], call: Call, trace: Trace) -> tuple[list[Finding], list[Finding]]:
    """The findings that explain the failing call, and the rest, each in the order of
    ``rank_by_cause`` (``Trace.findings``'s): causes first; but see ``_operands_first``.

    A finding explains it when it is about that call, a call around it, a call
    inside it (what it returned was made there: a ``squeeze()`` of a batch of one in
    the forward, then ``torch.cat`` of the outputs fails after it), or a call that
    made one of its inputs (an h_0 made for another batch size).
    """
    related: set[int] = set(upstream(trace_lineage(trace), call))
    related.update(inner.id for inner in call.walk())
    node: Call | None = call
    while node is not None:
        related.add(node.id)
        node = node.parent
    ranked = rank_by_cause(findings, trace)
    explaining = [f for f in ranked if f.call_id in related]
    return _operands_first(explaining, call), [f for f in ranked if f.call_id not in related]


def _operands_first(explaining: list[Finding], call: Call) -> list[Finding]:
    """``explaining`` with the findings that explain the raised error's operands first.

    Such a finding is about the failing ``call`` itself and traces the operand
    PyTorch rejected back to where it was made: its message names the line of
    another explaining finding, one about the call that made the operand
    (ST007's "h_0 is made at line 31 for a batch of 8" beside the ST003 of the
    ``torch.zeros`` on line 31; "h_0 is the h_n that encoder.lstm returned
    (line 26)" beside the encoder's ST001). It says what the error message
    says, why, and where the fix goes, so it is read first; the findings at the
    other lines follow, in cause order. A finding on the failing call that only
    restates the mismatch (ST010's "got (5, 7): its last dim is 7, not 12")
    names no such line and stays after the cause it does not explain.
    """
    elsewhere = [f for f in explaining if f.call_id != call.id and f.location is not None]
    leading = [f for f in explaining if f.call_id == call.id and any(_names_line(f, other) for other in elsewhere)]
    return [*leading, *(f for f in explaining if f not in leading)]


def _names_line(finding: Finding, other: Finding) -> bool:
    """Whether ``finding``'s message points at ``other``'s line (same file, or its name given)."""
    assert other.location is not None
    where = other.location
    same_file = finding.location is not None and finding.location.filename == where.filename
    if not same_file and os.path.basename(where.filename) not in finding.message:
        return False
    return re.search(rf"\bline {where.lineno}\b", finding.message) is not None


def add_trace_note(exc: BaseException, trace: Trace) -> None:
    """Add the note; never raise, since the user's own error must come through."""
    try:
        # An error of the backward pass: the forward call behind it (backward_note.py).
        note = backward_note(trace) or trace_note(trace, exc)
    except Exception:  # a bug of ours must not mask the user's error
        return
    if note is None:
        return
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10 keeps the notes without printing them
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
