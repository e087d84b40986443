"""One piece of ST001's evidence on a layer's layout (``batch_first.py`` weighs them)."""

from __future__ import annotations

import dataclasses

from shapetrace.core.records import Call


@dataclasses.dataclass(frozen=True)
class Clue:
    """One piece of evidence on the data's layout; ``swapped`` when it says
    batch and time are the other way round from what the RNN assumes."""

    swapped: bool | None  # None: sizes collide, it cannot tell
    text: str
    weak: bool = False  # an h_0 the caller built: it follows the caller's belief on the layout
    # A correct model may show it too (a mean cross-entropy is the same whichever axis is
    # its N): alone, it makes no finding; it adds to other evidence. Its kind
    # ("loss", "passes"): soft clues of two kinds agreeing make a warning.
    soft: str = ""
    # How the user's code reads the layer's output (or built its inputs), not what the
    # data is: where batch and time are the same size, it cannot tell a wrong flag from
    # wrong code.
    reading: bool = False
    op: Call | None = None  # the op the clue is about (an index), when there is one
    passes: bool = False  # from the sizes of several passes


__all__ = ["Clue"]
