"""Where an RNN's initial state came from, and the batches before it.

A state made once (``init_hidden(32)`` per epoch) and carried from batch to
batch fits every full batch and fails on the short last one. Explaining that
takes two facts the trace has: the tensor's producers (the ``h_n`` a previous
pass returned, or a ``torch.zeros`` sized for 32), and the batch sizes of the
earlier passes (``trace.meta["passes"]``: how many calls each recorded pass
stands for under ``shapetrace run``, which records one per input signature).
"""

from __future__ import annotations

from shapetrace.analyze.checks._common import pass_root
from shapetrace.analyze.checks._rnn import batch_axis, is_rnn, rnn_input
from shapetrace.analyze.checks._source import helper_call
from shapetrace.analyze.lineage.flow import Producer, TraceLineage
from shapetrace.core.records import Call, Location
from shapetrace.core.torch_facts import CREATION_OPS
from shapetrace.core.trace import Trace

_STATE_PATHS = ("1", "1.0", "1.1")


def state_origin(flow: TraceLineage, call: Call, index: int) -> Producer | None:
    """The first call behind input ``index`` that made a state rather than passed one
    on: an RNN's (or a model's) returned state, or a tensor creation."""
    seen: set[int] = set()
    source = flow.source(call, index)
    while source is not None and source.call.id not in seen:
        seen.add(source.call.id)
        made = source.call
        if source.as_input:  # a module's own input: what its caller passed
            source = flow.source(made, source.index)
            continue
        if made.kind == "op" and made.name in CREATION_OPS:
            return source
        if made.kind == "module":
            return _returned_state(flow, source)
        if made.kind == "op" and made.inputs:  # detach(), contiguous(), .to(): the same state
            source = flow.source(made, 0)
            continue
        return None
    return None


def _returned_state(flow: TraceLineage, source: Producer) -> Producer | None:
    """The RNN state a module returned (``h_n`` of an LSTM inside it, however
    deep), or the module's own state-like output; None for other outputs."""
    inner: Producer | None = source
    while inner is not None and not is_rnn(inner.call):
        inner = flow.made_inside(inner.call, inner.index) if inner.call.kind == "module" else None
    if inner is not None and inner.meta.path in _STATE_PATHS:
        return inner
    return source if source.meta.path in _STATE_PATHS else None


def first_made(flow: TraceLineage, call: Call, index: int) -> Producer | None:
    """The tensor creation that began a state carried from pass to pass: behind the
    ``h_n`` a previous pass returned, the ``h_0`` that pass was given, and so back to
    the ``torch.zeros`` of an ``init_hidden``; None where the chain ends elsewhere."""
    seen: set[int] = set()
    source = state_origin(flow, call, index)
    while source is not None and source.call.kind == "module" and source.call.id not in seen:
        made = source.call
        seen.add(made.id)
        # (a layer or model takes its state where it returns it: (h_0, c_0) at "1.0"
        # and "1.1" in, (h_n, c_n) there out)
        given = [position for position, meta in enumerate(made.inputs) if meta.path == source.meta.path]
        source = state_origin(flow, made, given[0]) if given else None
    return source if source is not None and source.call.kind == "op" else None


def caller_line(trace: Trace, op: Call, pass_call: Call) -> Location | None:
    """The line that called the helper an op ran in: outside the pass (``init_hidden(32)``
    in the training loop), where that line is in the function that ran the pass
    (record/before_pass.py: ``called_from``); inside it, the line of the function around
    ``pass_call`` that calls the helper (``_source.helper_call``); None elsewhere."""
    if pass_root(op) is pass_root(pass_call):  # a helper forward called (from the source)
        return helper_call(op.location, pass_call.location)
    where = pass_root(pass_call).location
    for entry in trace.run_info.get("called_from") or ():
        if isinstance(entry, list) and len(entry) == 5 and entry[0] == op.id:
            _, filename, lineno, code, function = entry
            if where is not None and (filename, function) == (where.filename, where.function):
                return Location(filename, lineno, code, function)
    return None


def _op_line(trace: Trace, op: Call, pass_call: Call) -> str:
    """``line 26 (init_hidden, called at line 50)``, or ``line 26``."""
    if op.location is None:
        return "an earlier line"
    called = caller_line(trace, op, pass_call)
    if called is None or not op.location.function.isidentifier():
        return f"line {op.location.lineno}"
    return f"line {op.location.lineno} ({op.location.function}, called at line {called.lineno})"


def _made_before_each(trace: Trace, flow: TraceLineage, made: Call, call: Call, index: int) -> bool:
    """Whether the op at ``made``'s site also made the state of an earlier pass, anew:
    a state rebuilt before each batch, of the same fixed size."""
    for other in trace.calls:
        if other.id >= call.id:
            break
        if other.name != call.name or pass_root(other) is pass_root(call) or len(other.inputs) <= index:
            continue
        earlier = state_origin(flow, other, index)
        if earlier is not None and earlier.call is not made and earlier.call.location == made.location:
            return True
    return False


def describe_origin(trace: Trace, flow: TraceLineage, call: Call, index: int, batch: int) -> tuple[str, str] | None:
    """``("the h_n lstm returned on the previous pass (line 35), made for a batch of 32", "carried")``:
    where the state was made, and how it reached this pass: ``"made"`` by it,
    ``"carried"`` over from an earlier one, or ``"rebuilt"`` before each batch at one
    fixed size."""
    source = state_origin(flow, call, index)
    if source is None:
        return _made_on_an_earlier_pass(trace, flow, call, index, batch)
    made = source.call
    if made.kind == "op":
        line = _op_line(trace, made, call)
        if pass_root(made) is pass_root(call):  # made by this forward pass
            return f"made at {line} for a batch of {batch}", "made"
        if _made_before_each(trace, flow, made, call, index):
            return f"made at {line} before each batch, for a batch of {batch} every time", "rebuilt"
        return f"made at {line}, outside this pass, for a batch of {batch} and kept for the next batches", "carried"
    line = f"line {made.location.lineno}" if made.location is not None else "an earlier line"
    when = "on the previous pass" if pass_root(made) is not pass_root(call) else "earlier in this pass"
    name = "h_n" if source.meta.path in ("1", "1.0") else "c_n"
    if made.kind == "module" and not is_rnn(made):  # a model's own returned state (a cell's hx carried out)
        name = "state"
    began = first_made(flow, call, index) if when == "on the previous pass" else None
    first = f"; it began as {began.call.name} at {_op_line(trace, began.call, call)}" if began is not None else ""
    return (
        f"the {name} that {made.name or 'the model'} returned {when} ({line}), made for a batch of {batch}{first}",
        "carried",
    )


def _made_on_an_earlier_pass(
    trace: Trace, flow: TraceLineage, call: Call, index: int, batch: int
) -> tuple[str, str] | None:
    """Where no recorded op made the state in this pass (kept on the model as
    ``self.hidden = h.detach()``, whose passes in between ``shapetrace run`` did not
    record): the state of the same shape that this layer was given on an earlier pass,
    where an op made it."""
    made = _earlier_maker(trace, flow, call, index)
    if made is None:
        return None
    line = f"line {made.location.lineno}" if made.location is not None else "an earlier line"
    return (
        f"not made in this pass: {made.name} at {line} made it for a batch of {batch} on an earlier "
        f"pass, and the model carries it from batch to batch",
        "carried",
    )


def _earlier_maker(trace: Trace, flow: TraceLineage, call: Call, index: int) -> Call | None:
    """The op that made the state of the same shape this layer was given on an earlier pass."""
    shape = call.inputs[index].shape
    for other in trace.calls:
        if other.id >= call.id:
            break
        if other.name != call.name or pass_root(other) is pass_root(call) or len(other.inputs) <= index:
            continue
        if other.inputs[index].path != call.inputs[index].path or other.inputs[index].shape != shape:
            continue
        source = state_origin(flow, other, index)
        if source is not None and source.call.kind == "op":
            return source.call
    return None


def state_maker(trace: Trace, flow: TraceLineage, call: Call, index: int) -> tuple[str, Location | None] | None:
    """The name of the function of the user's that made the state (``reset_state``, the
    method a loop calls once per epoch), and the line of the pass's function that
    called it (``caller_line``); None when an op of ``forward`` made it, or no
    recorded op did."""
    source = state_origin(flow, call, index)
    made = source.call if source is not None and source.call.kind == "op" else None
    if source is not None and made is None:  # carried over: what began it
        began = first_made(flow, call, index)
        made = began.call if began is not None else None
    made = made or (_earlier_maker(trace, flow, call, index) if source is None else None)
    function = made.location.function if made is not None and made.location is not None else ""
    if not function.isidentifier() or function in ("forward", "<module>") or made is None:
        return None
    return function, caller_line(trace, made, call)


def _pass_counts(trace: Trace) -> dict[int, int]:
    """How many calls each top-level module call stands for (1 each under the API)."""
    recorded = trace.run_info.get("passes")
    roots = [call for call in trace.calls if call.parent_id is None and call.kind == "module"]
    if not isinstance(recorded, list) or len(recorded) != len(roots):
        return {}
    return {root.id: count for root, count in zip(roots, recorded) if isinstance(count, int)}


def short_last_batch(trace: Trace, call: Call, full: int) -> str | None:
    """``this batch has 4 samples where the 3 before it had 32: 100 = 3 × 32 + 4,
    a short last batch`` when every earlier call of this RNN (or cell) ran at ``full``."""
    meta, where = rnn_input(call), batch_axis(call)
    if meta is None or where is None or meta.ndim != where[0]:
        return None
    ndim, axis = where
    batch = meta.shape[axis]
    if batch >= full:
        return None
    counts = _pass_counts(trace)
    passes: set[int] = set()  # (a cell runs once per step: the batches are its passes)
    for other in trace.calls:
        if other.id >= call.id:
            break
        if other.name != call.name or batch_axis(other) != where:
            continue
        source = rnn_input(other)
        if source is None or source.ndim != ndim or source.shape[axis] != full:
            return None
        passes.add(pass_root(other).id)
    before = sum(counts.get(root, 1) for root in passes)
    if not before:
        return None
    batches = "batch" if before == 1 else f"{before} batches"
    samples = "sample" if batch == 1 else "samples"
    said = f"this batch has {batch} {samples} where the {batches} before it had {full}"
    loaders = [info for info in trace.run_info.get("loaders", ()) if isinstance(info, dict)]
    if loaders and not any(info.get("batch_size") == full and info.get("last_batch") == batch for info in loaders):
        # no DataLoader the trace saw ends on such a batch: it came from elsewhere
        return f"{said}, and no DataLoader of this run gives a batch of {batch}: it was made another way"
    return f"{said}: {before * full + batch} = {before} × {full} + {batch}, the short last batch of an epoch"
