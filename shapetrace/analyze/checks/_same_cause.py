"""One finding for several tensors made with the same mistake and given to one call.

An LSTM's ``h_0`` and ``c_0``, each ``torch.zeros(1, self.batch_size, H)``, are
two tensors made for one wrong batch size: one mistake, one fix (the batch size
read from the data), one call that rejects them. Reported per tensor, the same
help appears twice; grouped here, one finding names every tensor and line:
``torch.zeros(1, 8, 12) at line 31 (h_0) and torch.zeros(1, 8, 12) at line 32
(c_0) make (1, 8, 12) ...``. A check groups its sites by what the fix is (the
same key: a size and how it is written), then writes one finding per group.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import NamedTuple, TypeVar

from shapetrace.analyze.checks._common import at_line, op_text
from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.core.text import format_shape, tensor_name

Site = TypeVar("Site")


def grouped(sites: Iterable[Site], key: Callable[[Site], Hashable]) -> list[list[Site]]:
    """The sites in groups of equal ``key``, in the order each group's first site came."""
    groups: dict[Hashable, list[Site]] = {}
    for site in sites:
        groups.setdefault(key(site), []).append(site)
    return list(groups.values())


def and_list(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def made_for(receiver: Call, uses: list[tuple[Call, int]]) -> str:
    """``torch.zeros(1, 8, 12) at line 31 (h_0) and torch.zeros(1, 8, 12) at line 32 (c_0)``:
    each call that made a tensor ``receiver`` took, with the names of the inputs
    (``receiver.inputs[index]``) it became; ``uses`` pairs a maker with that index.
    A maker whose tensor went to several inputs is named once, with all of them."""
    names: dict[int, tuple[Call, list[str]]] = {}
    for made, index in uses:
        entry = names.setdefault(made.id, (made, []))
        entry[1].append(tensor_name(receiver, receiver.inputs[index], output=False))
    return and_list([f"{op_text(made)} {at_line(made)} ({', '.join(inputs)})" for made, inputs in names.values()])


class Made(NamedTuple):
    """A tensor made for a wrong size, given to a call as its input ``position``."""

    position: int
    made: Call
    output: TensorMeta
    dim: int  # the size argument that is wrong
    sizes: list[int]
    texts: tuple[str, ...]


def made_subject(receiver: Call, group: list[Made]) -> str:
    """``torch.zeros(1, 8, 12) at line 31 makes (1, 8, 12)``, or, for a group,
    ``... at line 31 (h_0) and ... at line 32 (c_0) make (1, 8, 12)``."""
    first = group[0].made
    if len(group) == 1:
        subject = f"{op_text(first)} {at_line(first)}"
    else:
        subject = made_for(receiver, [(site.made, site.position) for site in group])
    verb = " makes " if len({site.made.id for site in group}) == 1 else " make "
    return subject + verb + and_list(list(dict.fromkeys(format_shape(site.output) for site in group)))
