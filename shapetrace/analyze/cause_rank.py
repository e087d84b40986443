"""The order of findings: causes first.

One finding can explain another: a ``squeeze()`` that dropped the batch axis
(ST014) makes the BatchNorm after it fail; a view that scrambled the axes feeds a
wrong tensor to the layer after it. Fixing the first makes the second go away,
so the first is listed first: in ``Trace.findings``, in the report and the JSON
``findings``, and in the "explained by" of an exception's note (one order for all,
with one exception: the note puts first a finding on the call that raised which
traces the rejected operand to another finding's line, ``error_note._operands_first``).

The rule: finding A comes before finding B when A's call made an input of B's
call (through the data path: each call's first input, going on outside a module
where the chain reaches that module's own input, and into a module whose output
it is, to the call inside that made it: an encoder's LSTM made the state the
encoder returned), or when A's call ran inside
B's (the op that failed before the module around it). Otherwise, and among
findings of one call, the order is stable: severity (error, warning, info),
then the file and line, then the code.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from shapetrace.analyze.lineage.flow import TraceLineage, trace_lineage
from shapetrace.core.finding import SEVERITY_RANK, Finding
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace


def upstream(flow: TraceLineage, call: Call) -> list[int]:
    """The ids of the calls that made ``call``'s inputs, input by input, nearest first."""
    ids: list[int] = []
    for index in range(len(call.inputs)):
        for made in _chain(flow, call, index):
            if made not in ids:
                ids.append(made)
    return ids


def _chain(flow: TraceLineage, call: Call, index: int) -> list[int]:
    """The ids of the calls that made input ``index`` of ``call``, nearest first,
    going on outside a module where the chain reaches that module's own input
    (a squeeze in forward that broke a BatchNorm inside a submodule)."""
    ids: list[int] = []
    seen: set[tuple[int, bool]] = set()
    source = flow.source(call, index)
    while source is not None and (source.call.id, source.as_input) not in seen:
        seen.add((source.call.id, source.as_input))
        if source.as_input:
            source = flow.source(source.call, source.index)
            continue
        ids.append(source.call.id)
        # A module's output was made inside it (an encoder's h_n by its LSTM): those calls made it too,
        # and the chain goes on from the innermost of them, through the module's own data path (a
        # model's logits made by its head, from its LSTM's state), out at the module's input.
        maker = source.call
        inner = flow.made_inside(maker, source.index) if maker.kind == "module" else None
        while inner is not None and inner.call.id not in ids:
            ids.append(inner.call.id)
            maker = inner.call
            inner = flow.made_inside(maker, inner.index) if maker.kind == "module" else None
        link = next((k for k, meta in enumerate(maker.inputs) if meta.path in ("0", "")), None)
        source = flow.source(maker, link) if link is not None else None
    return ids


def _inside(call: Call) -> set[int]:
    """The ids of the calls that ran inside ``call``."""
    return {inner.id for inner in call.walk() if inner is not call}


def base_key(finding: Finding) -> tuple:
    """The order among findings that do not explain one another."""
    where = finding.location
    return (
        -SEVERITY_RANK[finding.severity],
        (where.filename, where.lineno) if where is not None else ("\uffff", 0),
        finding.code,
        finding.message,
    )


def rank_by_cause(findings: Sequence[Finding], trace: Trace) -> list[Finding]:
    """``findings`` in the order above: a finding whose call made an input of another's
    call comes first (a topological order), ties by ``base_key``."""
    if len(findings) < 2:
        return list(findings)
    calls = trace.calls
    by_id = {call.id: call for call in calls}
    flow = trace_lineage(trace)
    ups: dict[int, set[int]] = {}
    for finding in findings:
        call = by_id.get(finding.call_id) if finding.call_id is not None else None
        if call is not None and call.id not in ups:
            ups[call.id] = set(upstream(flow, call)) | _inside(call)
    # before[j]: the findings that must come before finding j.
    before: list[set[int]] = [set() for _ in findings]
    for j, later in enumerate(findings):
        made = ups.get(later.call_id, set()) if later.call_id is not None else set()
        for i, earlier in enumerate(findings):
            if i != j and earlier.call_id is not None and earlier.call_id != later.call_id and earlier.call_id in made:
                before[j].add(i)
    for j in range(len(findings)):  # a cycle (a state carried in a loop) orders by base_key alone
        before[j] = {i for i in before[j] if j not in before[i]}
    waiting = [len(deps) for deps in before]
    ready = [(base_key(f), i) for i, f in enumerate(findings) if not waiting[i]]
    heapq.heapify(ready)
    order: list[Finding] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(findings[i])
        for j, deps in enumerate(before):
            if i in deps:
                waiting[j] -= 1
                if not waiting[j]:
                    heapq.heappush(ready, (base_key(findings[j]), j))
    placed = {id(f) for f in order}
    if len(order) < len(findings):  # longer cycles: the rest by base_key
        order += sorted((f for f in findings if id(f) not in placed), key=base_key)
    return order


__all__ = ["base_key", "rank_by_cause", "upstream"]
