"""ST001's ``help:``: every edit that flipping ``batch_first`` takes, so that applying
it fixes the model rather than moving the mistake.

Flipping the flag swaps dims 0 and 1 of the RNN's input and output, never those of
its state, which is ``(num_layers * directions, batch, hidden)`` in both layouts. So:

- a state the caller passes was made for the old batch axis (unless PyTorch
  raised): it is remade for the batch, from the input's size, in each call; not
  so a state already made for the new batch (the call raised; or another RNN
  returned it, an encoder's for a decoder);
- code after the RNN written for the old layout moves with it: an index taking the
  last step (``out[-1]`` becomes ``out[:, -1]``), a transpose that turned the old
  layout into the new one, leading with the real time axis (dropped); a transpose
  back to the batch first, undoing one made to feed the RNN, stays.

Each follow-up is written ``then use NEW in place of OLD at line N``, with OLD as
written on that line (modulo spacing), so that a person, or a test, can apply it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from shapetrace.analyze.checks._attention import flag_text, is_attention
from shapetrace.analyze.checks._common import argument_text, at_line, op_text
from shapetrace.analyze.checks._positions import positional_tables, table_edit
from shapetrace.analyze.checks._rnn import Layout, hidden_inputs, is_rnn, ops_after
from shapetrace.analyze.checks._state_origin import state_origin
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import integer_indices

_SWAPS = frozenset({"transpose", "permute", "swapaxes", "swapdims", "t"})


def batch_first_help(flow: TraceLineage, lay: Layout) -> str:
    """The ``help:`` of ST001 for one RNN call: the flag, then the follow-ups."""
    wanted = not lay.call.config.get("batch_first")
    if is_attention(lay.call):
        parts = [flag_text(lay.call, wanted)]
    else:
        parts = [f"build it with nn.{lay.call.type}(..., batch_first={wanted})"]
    state = _state_part(flow, lay) if is_rnn(lay.call) else ""
    if state:
        parts.append(state)
    parts += sorted(set(_follow_ups(flow, lay)))
    return "; ".join(parts)


def _state_part(flow: TraceLineage, lay: Layout) -> str:
    hidden = hidden_inputs(lay.call)
    if not hidden or any(meta.ndim != 3 for meta in hidden):
        return ""
    if hidden[0].shape[1] == lay.steps:
        # Made for the batch the flip gives (PyTorch raised here), or another RNN's
        # state (an encoder's): it fits once flipped, and carrying it on stays right.
        returned = state_origin(flow, lay.call, lay.call.inputs.index(hidden[0]))
        if hidden[0].shape[1] != lay.batch_size or (returned is not None and is_rnn(returned.call)):
            return ""
    source = argument_text(lay.call)
    passed = argument_text(lay.call, 1, "")
    # The batch is the axis the RNN steps through now: dim time_dim of the input as passed.
    made = [f"{source}.new_zeros({meta.shape[0]}, {source}.size({lay.time_dim}), {meta.shape[2]})" for meta in hidden]
    expression = made[0] if len(made) == 1 else f"({', '.join(made)})"
    if not passed:
        return f"and make the initial state (num_layers, {source}.size({lay.time_dim}), hidden) for each batch"
    return (
        f"then use {expression} in place of {passed} {at_line(lay.call)} "
        "(the initial state, made for each batch: (num_layers, batch, hidden) in both layouts)"
    )


def _follow_ups(flow: TraceLineage, lay: Layout) -> Iterator[str]:
    if is_attention(lay.call):
        # a positional table added along the old time axis moves to the new one
        for table in positional_tables(flow, lay):
            edit = table_edit(flow, table, table.constant) if table.on_time else None
            if edit is not None:
                written, moved, sliced = edit
                yield f"then use {moved} in place of {_normal(written)} {at_line(sliced)}"
    for op, lineage in ops_after(flow, lay):
        batch, time = lay.where(lineage)
        if batch is None or time is None or {batch, time} != {0, 1}:
            continue  # only code on the RNN's (batch, time) dims as they come out of it
        old = op_text(op)
        if op.name == "__getitem__":
            shape = op.inputs[0].shape
            ends = (-1, shape[time] - 1, 0) if is_attention(lay.call) else (-1, shape[time] - 1)
            last = {d for d, index in integer_indices(op, len(shape)).items() if index in ends}
            if time in last:  # the last step (a transformer's first), taken where the old layout keeps time
                new = _swapped_index(old)
                if new is not None:
                    yield f"then use {new} in place of {_normal(old)} {at_line(op)}"
        elif op.name in _SWAPS and op.outputs:
            # Flipping the flag keeps the RNN's output in its input's order: a swap after it is
            # wrong only where it leads with what the finding says is time (the code swapped the
            # RNN's layout into the one it believed in), not where it restores the batch to dim 0
            # (undoing a permute made to feed the RNN).
            out = flow.output_lineage(op, 0)
            if lay.where(out) == (time, batch) == (0, 1) and op.inputs:
                receiver = _receiver(old)
                if receiver is not None:
                    yield f"then use {receiver} in place of {_normal(old)} {at_line(op)}"


def _parsed(text: str) -> ast.expr | None:
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        return None


def _normal(text: str) -> str:
    node = _parsed(text)
    return ast.unparse(node) if node is not None else text


def _swapped_index(text: str) -> str | None:
    """``out[-1]`` -> ``out[:, -1]``: the subscript with its first two dims swapped."""
    node = _parsed(text)
    if not isinstance(node, ast.Subscript):
        return None
    items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if any(isinstance(item, ast.Constant) and item.value is Ellipsis for item in items):
        return None
    while len(items) < 2:
        items.append(ast.Slice())
    items[0], items[1] = items[1], items[0]
    while items and isinstance(items[-1], ast.Slice) and not (items[-1].lower or items[-1].upper or items[-1].step):
        items.pop()
    node.slice = ast.Tuple(items, ast.Load()) if len(items) != 1 else items[0]
    return ast.unparse(node) if items else ast.unparse(node.value)


def _receiver(text: str) -> str | None:
    """``out`` of ``out.transpose(0, 1)``."""
    node = _parsed(text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return ast.unparse(node.func.value)
    if isinstance(node, ast.Call) and node.args:  # torch.transpose(out, 0, 1)
        return ast.unparse(node.args[0])
    return None
