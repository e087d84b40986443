"""Ops that take a whole axis away by summing or pooling it (ST013's other picks).

``out.mean(dim=2)`` and ``torch.einsum("bht,bt->bh", out, mask)`` on an RNN's
``(batch, time, hidden)`` output both remove its hidden axis and keep time,
where the sequence (a mean over the steps, a one-hot pick of each sample's last
step) was meant: the same mistake as ``out[:, :, -1]``, written as a reduction.
Here: which operand dims such an op removes, and its call rewritten to remove
the time axis instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from shapetrace.analyze.checks._source import find_call
from shapetrace.analyze.lineage.einsum import einsum_terms
from shapetrace.analyze.lineage.op_args import argument, reduced_axes
from shapetrace.core.records import Call

# Reductions that pool an axis into one value per position of the others.
POOLING = frozenset({"mean", "sum", "amax", "max", "logsumexp", "nansum", "nanmean"})


def dropped_dims(call: Call) -> Iterator[tuple[int, int, str, str]]:
    """``(operand, dim, how, label)`` for each dim of an operand (an input index)
    that ``call`` sums or pools away: an einsum's labels missing from its output
    (``label``: the letter), a reduction's ``dim`` (``label``: ""). ``how`` says
    it in words: ``sums``, ``averages``, ``takes the amax of``."""
    if call.name == "einsum":
        terms = einsum_terms(call)
        if terms is None:
            return
        for k, labels in enumerate(terms.labels):
            for d, label in enumerate(labels):
                if label not in terms.output and not label.startswith("."):
                    yield k, d, "sums", label
    elif call.name in POOLING and call.inputs and call.outputs:
        axes = reduced_axes(call, call.inputs[0].ndim)
        for d in axes or ():
            how = {"mean": "averages", "nanmean": "averages", "sum": "sums", "nansum": "sums"}
            yield 0, d, how.get(call.name, f"takes the {call.name} of"), ""


def dropped_hint(call: Call, operand: int, dim: int, time: int) -> str | None:
    """The call rewritten to remove ``time`` where it removes ``dim``: the einsum's
    two labels of that operand swapped, the reduction given the time dim."""
    if call.name == "einsum":
        found = find_call(call.location, {"einsum"}, None, call.index)
        terms = einsum_terms(call)
        equation = call.args[0] if call.args else None
        if found is None or terms is None or not isinstance(equation, str) or not found.args:
            return None
        labels = terms.labels[operand]
        if labels[time].startswith("."):
            return None
        written = equation.replace(" ", "").partition("->")
        operands = written[0].split(",")
        order = [int(meta.path.split(".")[-1]) if "." in meta.path else int(meta.path) - 1 for meta in call.inputs]
        term = operands[order[operand]]
        if "..." in term:
            return None
        swapped = list(term)
        swapped[dim], swapped[time] = swapped[time], swapped[dim]
        operands[order[operand]] = "".join(swapped)
        fixed = ",".join(operands) + written[1] + written[2]
        return f"use torch.einsum({fixed!r}, {', '.join(found.args[1:])})"
    found = find_call(call.location, {call.name}, None, call.index)
    if found is None:
        return None
    kept = argument(call, 1, "keepdim", False) is True
    keep = ", keepdim=True" if kept else ""
    # (a kept dim is squeezed after: that squeeze moves too)
    then = f": then squeeze dim {time}, not dim {dim}" if kept else ""
    if found.receiver in ("torch", None):
        if not found.args:
            return None
        return f"use torch.{call.name}({found.args[0]}, dim={time}{keep}){then}"
    return f"use {found.receiver}.{call.name}(dim={time}{keep}){then}"
