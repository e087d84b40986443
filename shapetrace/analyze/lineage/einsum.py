"""Reading a recorded ``torch.einsum`` call: which index labels each operand's dims.

``torch.einsum("bth,bt->bh", out, mask)``: each operand's term gives one label
per dim; ``...`` stands for the dims no letter names, aligned from the right as
broadcasting aligns them (labelled ``.0``, ``.1``... from the right). The
output keeps the labels after ``->``; without an arrow, the labels written
once, in alphabetical order, after the ellipsis (PyTorch's implicit mode, as
NumPy's). The operands come in either of einsum's forms, ``einsum(eq, a, b)``
or ``einsum(eq, [a, b])``: the recorded input paths say which tensor is which.
"""

from __future__ import annotations

from typing import NamedTuple

from shapetrace.core.records import Call


class EinsumTerms(NamedTuple):
    """``labels[k]``: one label per dim of ``call.inputs[k]``; ``output``: the
    output's labels, in order."""

    labels: list[list[str]]
    output: list[str]


def einsum_terms(call: Call) -> EinsumTerms | None:
    """The labels of an einsum call's operands and output; None for an equation
    this does not read (a repeated label within one operand: a diagonal; a term
    that does not fit its operand's dims; operands not recorded in order)."""
    equation = call.args[0] if call.args and isinstance(call.args[0], str) else None
    paths = [meta.path.split(".") for meta in call.inputs]
    if equation is None or not paths or not all(path[0].isdigit() for path in paths):
        return None
    operands = [int(path[-1]) if len(path) == 2 else int(path[0]) - 1 for path in paths]
    terms, arrow, written_output = equation.replace(" ", "").partition("->")
    written = terms.split(",")
    if len(written) != len(call.inputs) or sorted(operands) != list(range(len(written))):
        return None
    labels = []
    for o, meta in zip(operands, call.inputs):
        mine = _labels(written[o], meta.ndim)
        if mine is None or len(set(mine)) != len(mine):
            return None
        labels.append(mine)
    covered = max((sum(label.startswith(".") for label in mine) for mine in labels), default=0)
    dots = [f".{covered - 1 - i}" for i in range(covered)]
    if arrow:
        before, ellipsis, after = written_output.partition("...")
        if not (before + after).isalpha() and (before + after):
            return None
        output = [*before, *(dots if ellipsis else []), *after]
    else:
        letters = terms.replace("...", "").replace(",", "")
        output = [*dots, *sorted(c for c in set(letters) if letters.count(c) == 1)]
    return EinsumTerms(labels, output)


def _labels(term: str, ndim: int) -> list[str] | None:
    """One label per dim of an operand of ``ndim`` dims: its letters, and ``.0``,
    ``.1``... counted from the right for the dims ``...`` stands for (broadcasting
    aligns them so); None when the term does not fit."""
    before, dots, after = term.partition("...")
    if (before + after) and not (before + after).isalpha():
        return None
    covered = ndim - len(before) - len(after)
    if covered < 0 or (covered and not dots):
        return None
    return [*before, *(f".{covered - 1 - i}" for i in range(covered)), *after]
