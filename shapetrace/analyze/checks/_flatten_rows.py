"""A feature map flattened into rows of the wrong length: ``x.view(-1, 16 * 4 * 4)``.

The classic CNN head (PyTorch's own tutorial writes ``x.view(-1, 16 * 5 * 5)``)
flattens each sample's (C, H, W) values into one row for a Linear. When the row
length written there is not what one sample holds (the input size or a layer
changed, and 16 * 5 * 5 = 400 values reach a view written for 256), the ``-1``
absorbs the difference: the rows cut across samples, the batch of 16 becomes 25
rows, and the error comes later, from the loss ("Expected input batch_size (25)
to match target batch_size (16)"), or at once when the values do not divide
("shape '[-1, 256]' is invalid for input of size 1600"). The row length is a
per-sample size, not a batch size baked in, and the fix is not a permute: view
one row per sample and size the Linear for it.

ST012 reports it (its help would otherwise permute axes); ST003 leaves the
failed view to it.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from shapetrace.analyze.checks import finding
from shapetrace.analyze.checks._common import at_line, op_text, pass_root, receiver_text
from shapetrace.analyze.lineage.flow import TraceLineage
from shapetrace.analyze.lineage.op_args import size_args
from shapetrace.core.finding import Finding
from shapetrace.core.records import Call
from shapetrace.core.text import format_shape

_FLATTENING = frozenset({"view", "reshape"})


def _row_length(call: Call) -> int | None:
    """``k`` of a ``view(-1, k)`` / ``reshape(-1, k)`` with ``k`` written positive."""
    if call.kind != "op" or call.name not in _FLATTENING or not call.inputs:
        return None
    sizes = size_args(call)
    if len(sizes) != 2 or sizes[0] != -1 or sizes[1] <= 0:
        return None
    return sizes[1]


def _batch_first(flow: TraceLineage, call: Call) -> bool:
    """Whether dim 0 of the view's input is the batch: the model input's dim 0."""
    root = pass_root(call)
    if root is call or not root.inputs or not root.inputs[0].shape:
        return False
    batch = flow.input_lineage(root, 0)[0]
    return len(batch) == 1 and flow.input_lineage(call, 0)[0] == batch


def wrong_row_length(flow: TraceLineage, call: Call, batch_sizes: Collection[int] = ()) -> Finding | None:
    """ST012 for a feature map of a batch viewed as ``(-1, k)``, ``k`` being neither one
    sample's values (C * H * W) nor a block of trailing axes (rows of W), nor a whole
    number of samples (ST003's batch folded into one row), nor one of ``batch_sizes``,
    the batch sizes of the trace's passes (a batch size baked in: ST003's). Ran or failed."""
    k = _row_length(call)
    if k in batch_sizes:
        return None
    shape = call.inputs[0].shape if k is not None else ()
    if k is None or len(shape) < 2 or shape[0] < 2 or not _batch_first(flow, call):
        return None
    per_sample = math.prod(shape[1:])
    trailing = {math.prod(shape[j:]) for j in range(1, len(shape))}
    # rows of whole trailing axes, a sample split into equal rows, or whole samples (ST003's)
    if k in trailing or per_sample % k == 0 or k % per_sample == 0:
        return None
    sizes = " * ".join(map(str, shape[1:]))
    tensor = receiver_text(call)
    if call.output is not None and not call.error:
        rows = call.output.shape[0]
        outcome = f"so its rows cut across samples: {rows} rows for a batch of {shape[0]}"
    else:
        outcome = f"so {math.prod(shape)} values do not even make whole rows of {k}"
    message = (
        f"{op_text(call)} {at_line(call)} flattens {format_shape(call.inputs[0])} into rows of {k}, "
        f"but each sample holds {sizes if len(shape) == 2 else f'{sizes} = {per_sample}'} values, {outcome}"
    )
    return finding("ST012", call, message, _help(flow, call, tensor, sizes), "error" if call.error else None)


def _help(flow: TraceLineage, call: Call, tensor: str, sizes: str) -> str:
    """View one row per sample (a 2-d input is one already); the Linear that reads the
    rows, built for them."""
    if call.inputs[0].ndim == 2:
        view = f"use {tensor} as it is, one row per sample (drop the {call.name})"
    else:
        view = f"use {tensor}.{call.name}({tensor}.size(0), -1)"
    if call.output is None:
        return f"{view}, and build the layer that takes it for {sizes} features"
    linear = next(
        (
            consumer
            for consumer, index in flow.consumers(call, 0)
            if consumer.kind == "module" and consumer.type == "Linear" and index == 0
        ),
        None,
    )
    if linear is None:
        return f"{view}, and build the layer that takes it for {sizes} features"
    out_features = linear.config.get("out_features", "...")
    return f"{view}, and build {linear.name} as nn.Linear({sizes}, {out_features})"
