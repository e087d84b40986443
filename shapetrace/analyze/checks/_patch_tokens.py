"""ST002 for patch tokens: a conv map reshaped to tokens without the transpose.

A ViT's patch embedding turns a Conv2d's (B, E, h, w) map into (B, h * w, E) tokens
with ``x.flatten(2).transpose(1, 2)``. ``x.reshape(B, -1, E)`` keeps memory order:
with as many patches as channels (h * w == E) it gives (B, E, h * w), the channels as
tokens and the positions as each token's features, in the expected shape. (With other
sizes the reshape cuts across the axes: ST012.) Told by lineage: the view's dim 1 is
the conv's channel axis and its last dim the conv's spatial axes, written as a size (the
features' count, not ``-1``), and a LayerNorm or an attention layer gets those spatial
axes as its last dim, its features. A Linear is no evidence: an MLP-Mixer's token
mixing reads the positions as features on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._attention import is_attention
from shapetrace.analyze.checks._common import at_line, call_label, op_text, receiver_text
from shapetrace.analyze.lineage.atoms import origins
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.module_rules import is_builtin
from shapetrace.analyze.lineage.op_args import size_args
from shapetrace.core.finding import Finding
from shapetrace.core.text import format_shape
from shapetrace.core.trace import Trace

_CONVS = frozenset({"Conv2d", "Conv3d", "LazyConv2d", "LazyConv3d"})


def channels_as_tokens(trace: Trace, flow: TraceLineage) -> Iterator[Finding]:
    """ST002 at each view that makes a conv map (B, C, h * w) where (B, h * w, C) tokens were meant."""
    convs = {
        f"{call.name}:channels": call
        for call in trace.calls
        if is_builtin(call) and call.type in _CONVS and call.outputs and call.outputs[0].ndim >= 4
    }
    if not convs:
        return
    # (Not a Linear: an MLP-Mixer's token mixing reads the positions as features on purpose.)
    readers = [
        call
        for call in trace.calls
        if call.inputs and (is_attention(call) or (is_builtin(call) and call.type == "LayerNorm"))
    ]
    for call in trace.calls:
        if call.kind != "op" or call.name not in ("view", "reshape") or not call.outputs:
            continue
        out = flow.output_lineage(call, 0)
        if len(out) != 3 or len(out[1]) != 1 or out[1][0].origin not in convs or size_args(call)[-1:] == [-1]:
            continue  # (a last size left to infer, view(B, C, -1): the positions last, as meant)
        conv = convs[out[1][0].origin]
        spatial = [atom.origin for dim in flow.output_lineage(conv, 0)[2:] for atom in dim]
        if [atom.origin for atom in out[2]] != spatial:
            continue
        reader = next(
            (
                r
                for r in readers
                if r.id > call.id
                and (read := flow.input_lineage(r, 0))
                and origins(read[-1]) == set(spatial)
                and out[1][0].origin not in origins(read[-1])
            ),
            None,
        )
        if reader is None:
            continue
        grid = " × ".join(str(size) for size in conv.outputs[0].shape[2:])
        message = (
            f"{op_text(call)} {at_line(call)} makes {call_label(conv)}'s {format_shape(conv.outputs[0])} map "
            f"{format_shape(call.outputs[0])} tokens whose dim 1 is its {conv.outputs[0].shape[1]} channels and "
            f"whose last dim its {grid} positions; {call_label(reader)} {at_line(reader)} then reads the "
            f"positions as each token's features (as many positions as channels: it fits)"
        )
        yield finding("ST002", call, message, f"use {receiver_text(call)}.flatten(2).transpose(1, 2)")
