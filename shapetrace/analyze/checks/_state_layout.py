"""When an initial state that does not fit is the layout's doing (ST001), not the state's.

PyTorch checks h_0 against the batch its RNN takes, so a wrong ``batch_first``
shows first as a state that does not fit (ST007): batch-first data into a
seq-first GRU whose ``init_hidden(bsz)`` is right for the data (word_language_model's
loop with ``.t()`` dropped), or a seq2seq encoder left seq-first whose h_n, made
for its step count, goes on to the decoder. There the state needs no edit: it
fits once the layout is fixed, and "build the state for each batch" would send the
user to the wrong line. ST007 then says that its state follows from ST001's fix.
"""

from __future__ import annotations

from shapetrace.analyze.checks._rnn import rnn_input
from shapetrace.analyze.checks._state_origin import state_origin
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.trace import Trace


def _flipped_batch(call: Call) -> int | None:
    """The batch ``call`` (an RNN on a 3-d input) would take with its ``batch_first`` flipped."""
    meta = rnn_input(call)
    if meta is None or meta.ndim != 3:
        return None
    return meta.shape[1 if call.config.get("batch_first") else 0]


def _layout_findings(trace: Trace) -> dict[str, Finding]:
    """ST001's warnings and errors, by the name of the layer each is about."""
    from shapetrace.analyze.checks.batch_first import check_batch_first  # ST001's own module registers it

    by_id = {call.id: call for call in trace.calls}
    found: dict[str, Finding] = {}
    for one in check_batch_first(trace):
        call = by_id.get(one.call_id) if one.call_id is not None else None
        if call is not None and one.severity in ("warning", "error"):
            found.setdefault(call.name, one)
    return found


def layout_explains_state(trace: Trace, flow: TraceLineage, call: Call, index: int) -> tuple[Finding, str] | None:
    """The ST001 finding whose fix makes input ``index`` of ``call`` (an h_0/c_0 of
    shape (slots, batch, hidden)) fit as it is, and what it is about: ``"this layer"``
    when flipping ``call``'s own flag makes its batch the state's dim 1, or the layer
    (``"encoder.lstm"``) whose h_n this state is, when flipping that one's flag makes
    the h_n come out with ``call``'s batch. None when no ST001 finding does."""
    meta = call.inputs[index]
    source = rnn_input(call)
    if meta.ndim != 3 or source is None or source.ndim != 3:
        return None
    batch = source.shape[0 if call.config.get("batch_first") else 1]
    made = state_origin(flow, call, index)
    maker = made.call if made is not None and made.call.kind == "module" and made.call is not call else None
    candidates = [(call, meta.shape[1], "this layer")]
    if maker is not None and maker.name != call.name:
        candidates.append((maker, batch, maker.name or maker.type))
    layouts: dict[str, Finding] | None = None
    for layer, wanted, label in candidates:
        if _flipped_batch(layer) != wanted:
            continue
        layouts = _layout_findings(trace) if layouts is None else layouts
        if layer.name in layouts:
            return layouts[layer.name], label
    return None


__all__ = ["layout_explains_state"]
