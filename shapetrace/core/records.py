"""The plain records a trace is made of: where a call happened and what it saw.

Records are values: formatting them belongs to the renderers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from shapetrace.core.fast_init import fast_constructor
from shapetrace.core.tensor_meta import TensorMeta

CallKind = Literal["module", "op"]


@dataclasses.dataclass(frozen=True)
class Location:
    """A line of the user's source: ``code`` is that line, stripped."""

    filename: str
    lineno: int
    code: str = ""
    function: str = ""

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


# Identity semantics: two calls with equal shapes are still two events.
@dataclasses.dataclass(frozen=True, eq=False)
class Call:
    """One module call or one tensor operation of a forward pass.

    ``parent`` and ``children`` link the calls into a tree; they are set
    once, while the trace is built, and are not part of the value.
    ``tensor_ids`` numbers each input, then each output, by tensor object:
    two calls saw the same tensor when they give it the same number (``()``
    when unknown, as in a trace written before identities were recorded).
    """

    id: int
    kind: CallKind
    name: str
    type: str
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    location: Location | None
    depth: int
    index: int
    parent_id: int | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: int = 0
    error: str | None = None
    defined_at: Location | None = None
    tensor_ids: tuple[int, ...] = ()
    parent: Call | None = dataclasses.field(default=None, repr=False)
    children: tuple[Call, ...] = dataclasses.field(default=(), repr=False)

    @property
    def is_module(self) -> bool:
        return self.kind == "module"

    @property
    def is_op(self) -> bool:
        return self.kind == "op"

    @property
    def output(self) -> TensorMeta | None:
        """The first output tensor (an LSTM's ``output``), or None."""
        return self.outputs[0] if self.outputs else None

    @property
    def input_ids(self) -> tuple[int, ...]:
        """The identity of each input tensor, () when unknown."""
        return self.tensor_ids[:len(self.inputs)]

    @property
    def output_ids(self) -> tuple[int, ...]:
        """The identity of each output tensor, () when unknown."""
        return self.tensor_ids[len(self.inputs):]

    def output_at(self, path: str) -> TensorMeta | None:
        return next((m for m in self.outputs if m.path == path), None)

    def input_at(self, path: str) -> TensorMeta | None:
        return next((m for m in self.inputs if m.path == path), None)

    @property
    def qualname(self) -> str:
        """``lstm`` for a module, ``lstm/view`` style for an op inside it."""
        if self.kind == "module" or self.parent is None:
            return self.name
        return f"{self.parent.name}/{self.name}" if self.parent.name else self.name

    def walk(self):
        """This call and all calls under it, in execution order."""
        yield self
        for child in self.children:
            yield from child.walk()


# The recorder makes one per event: see fast_init for why not ``Call(...)``.
make_call = fast_constructor(Call)


def link_calls(calls: list[Call]) -> None:
    """Set ``parent`` and ``children`` of calls given in execution order.

    They are written into the frozen calls' dicts: the links are set once,
    here, and are not part of a call's value.
    """
    by_id = {call.id: call for call in calls}
    children: dict[int, list[Call]] = {}
    for call in calls:
        parent_id = call.parent_id
        if parent_id is not None:
            call.__dict__["parent"] = by_id[parent_id]
            kids = children.get(parent_id)
            if kids is None:
                children[parent_id] = [call]
            else:
                kids.append(call)
    for parent_id, kids in children.items():
        by_id[parent_id].__dict__["children"] = tuple(kids)
