"""The parts of a drawn graph: boxes (a call drawn as a node or a cluster),
graph inputs and outputs, "not recorded" stubs, edges and the routes they
stand for, and the sections' groups of boxes. ``layout.GraphPlan`` decides
which of them a trace's graph has; ``digraph`` draws them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

from shapetrace.core.records import Call
from shapetrace.core.tensor_meta import TensorMeta, dtype_name
from shapetrace.render.sections import DataTransform, Section

Role = str  # "node" | "cluster" | "inside" (a call under a node) | "hidden"


@dataclasses.dataclass
class Box:
    """A drawn call: a node, or a cluster when it has ``children``."""

    call: Call
    run: list[Call]
    children: list[Box] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class End:
    """A graph input (``is_input``) or output: a tensor of a top-level call.
    ``made``: a graph input that a top-level op made from nothing recorded
    (``torch.randn``): ``path`` is then that op's output path, not an input's."""

    call: Call
    path: str
    is_input: bool
    made: bool = False


@dataclasses.dataclass(frozen=True)
class Unrecorded:
    """Where input ``path`` of ``call`` came from when no recorded call made it;
    with ``read``, where its output ``path`` went when no recorded call read it
    (a module without inputs whose output only unrecorded ops used)."""

    call: Call
    path: str
    read: bool = False


Origin = Call | End | Unrecorded  # a drawn call (node, cluster or source op), a graph input, a stub


@dataclasses.dataclass(frozen=True)
class Edge:
    origin: Origin
    target: Call | End | Unrecorded
    meta: TensorMeta  # the tensor as the target receives it
    via: tuple[Call, ...] = ()  # ops not drawn that it went through
    guessed: bool = False  # some link on the way matched by metadata alone
    loop: bool = False  # one step's output into the next step of the same drawn call
    start: TensorMeta | None = None  # the tensor as it left the origin (before ``via``)
    count: int = 1  # inputs alike it stands for: one per step of a folded run (a loop's outputs into cat)


class Route(NamedTuple):
    """How a tensor reached a call: from ``origin`` (where it was ``start``)
    through the hidden ops ``via``; ``guessed`` when a link was matched by shape."""

    origin: Origin
    via: tuple[Call, ...]
    guessed: bool
    start: TensorMeta | None


@dataclasses.dataclass(frozen=True)
class SectionGroup:
    """The top-level boxes of one section of the report (``render/sections.py``):
    a model's (``section``) or, with ``section=None``, the data transforms'."""

    section: Section | None
    boxes: tuple[Box, ...]


def grouped(
    boxes: Sequence[Box], models: Sequence[Section], transforms: dict[int, DataTransform]
) -> list[SectionGroup]:
    """The boxes by section, models first (most parameters first), the data
    transforms last; none (``[]``) when the trace has one section only, which
    the graph then draws without a cluster around it."""
    if len(models) <= 1 and not transforms:
        return []
    section_of = {call.id: position for position, section in enumerate(models) for call in section.roots}
    by_section: list[list[Box]] = [[] for _ in models]
    for box in boxes:
        if box.call.id not in transforms:
            by_section[section_of.get(box.call.id, 0)].append(box)
    groups = [SectionGroup(section, tuple(found)) for section, found in zip(models, by_section) if found]
    folded = tuple(box for box in boxes if box.call.id in transforms)
    return groups + ([SectionGroup(None, folded)] if folded else [])


def data_inputs(op: Call) -> list[int]:
    """The inputs of a hidden op whose data flows on: a boolean mask
    (``masked_fill(mask)``, ``where(causal, ...)``) only selects, so an edge
    through it would wire the mask's maker (``arange``) into the next module
    with that module's input shape."""
    data = [k for k, meta in enumerate(op.inputs) if dtype_name(meta.dtype) != "bool"]
    return data if data else list(range(len(op.inputs)))


def input_slot(call: Call, index: int) -> int:
    """Which input of ``call`` input ``index`` is, counting a tensor passed twice
    (``x * x``) once: its first position among the inputs."""
    ids = call.input_ids
    return ids.index(ids[index]) if ids else index


def identity(item: object) -> object:
    """A key part for an edge's end: a call by object identity, a stub or an end by value."""
    return id(item) if isinstance(item, Call) else item
