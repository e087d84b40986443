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
    """A line of the user's source.

    >>> Location("model.py", 12, "out = out.view(-1, 64)", "forward")
    Location('model.py:12', code='out = out.view(-1, 64)')

    Attributes:
        filename: the file's path as Python's frame gives it (``co_filename``).
        lineno: the line number, 1-based.
        code: that line of source, stripped; ``""`` when the file is not readable.
        function: the name of the function the line is in (``"forward"``); ``""`` when unknown.
    """

    filename: str
    lineno: int
    code: str = ""
    function: str = ""

    def __repr__(self) -> str:
        code = f", code={self.code!r}" if self.code else ""
        return f"Location('{self.filename}:{self.lineno}'{code})"

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


# Identity semantics: two calls with equal shapes are still two events.
@dataclasses.dataclass(frozen=True, eq=False)
class Call:
    """One module call or one tensor operation of a forward pass.

    >>> call = t["linear"]
    >>> call
    <Call module 'linear' Linear (150, 64) -> (150, 1) at lstm_forecaster.py:40>
    >>> call.outputs[0].shape, call.num_params
    ((150, 1), 65)

    Attributes:
        id: the call's position in ``Trace.calls`` (0 for the first call).
        kind: ``"module"`` for an ``nn.Module`` call, ``"op"`` for a tensor operation.
        name: for a module, its qualified name as in ``named_modules()``
            (``""`` for the root, ``"layers.0.self_attn"``); for an op, the op's
            name (``"view"``, ``"__getitem__"``).
        type: the module's class name (``"LSTM"``), or the op's owner and name
            (``"Tensor.view"``, ``"torch.cat"``).
        inputs: a :class:`TensorMeta` for each tensor among the arguments, in
            flattened order (``path`` tells where it sat).
        outputs: a :class:`TensorMeta` for each tensor in the returned value
            (an LSTM's ``output`` is path ``"0"``, ``h_n`` ``"1.0"``, ``c_n`` ``"1.1"``).
        location: the user's line that made the call; None when no user frame
            was found (a call made from inside a library).
        depth: 0 for a top-level call, one more for each enclosing module call.
        index: how many calls of the same module (by name) came before this
            one: 0 for the first call, 1 for the second (a module reused in a loop).
        parent_id: ``id`` of the enclosing module call; None at the top level.
        args: an op's positional arguments as JSON-ready stand-ins (a
            ``view``'s sizes: ``(-1, 64)``): a tensor becomes ``{"tensor": path}``
            (its metadata is in ``inputs``), a slice ``{"slice": (start, stop, step)}``,
            other objects their type's name. ``()`` for a module call.
        kwargs: an op's keyword arguments, likewise; ``{}`` for a module call
            (a module's tensor keyword arguments are among ``inputs``).
        config: a module's settings read from its attributes
            (``{"batch_first": True, "hidden_size": 64}``); ``{}`` for an op.
        num_params: the module's parameter count, torchinfo's ``num_params``
            (0 for an op). ``params`` is the same number under its old name.
        error: ``"TypeName: message"`` of the exception the call raised, else None.
        defined_at: where the module's class is defined (its ``forward``); None for ops.
        tensor_ids: one number for each input, then each output, by tensor
            object: two calls saw the same tensor when they give it the same
            number. ``()`` when unknown (a trace written before identities were recorded).
        site: which expression of its line made an op: the bytecode offset
            (``f_lasti``) of the instruction in the user's frame that called it,
            so that ``x.mul(w) * m`` records two sites on one line; for an op
            PyTorch's own code ran at the user's line (a ``TransformerEncoderLayer``'s
            two residual adds), ``-1 - offset`` in that code. Two calls of one
            expression share it (a loop's steps). None for a module call, and
            for an op where it is unknown (a trace written before sites were
            recorded, a collective): the line alone places it.
        parent: the enclosing module call (the call with ``parent_id``), or None.
        children: the calls made directly inside this one, in execution order.

    ``parent`` and ``children`` link the calls into a tree; they are set once,
    while the trace is built, and are not part of the value.
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
    num_params: int = 0
    error: str | None = None
    defined_at: Location | None = None
    tensor_ids: tuple[int, ...] = ()
    site: int | None = None
    parent: Call | None = dataclasses.field(default=None, repr=False)
    children: tuple[Call, ...] = dataclasses.field(default=(), repr=False)

    @property
    def params(self) -> int:
        """The parameter count: ``num_params`` under its former name (kept working)."""
        return self.num_params

    def __repr__(self) -> str:
        from shapetrace.core.text import format_shape

        name = repr(self.name) if self.kind == "module" else self.name
        ins = ", ".join(format_shape(m) for m in self.inputs) or "()"
        outs = ", ".join(format_shape(m) for m in self.outputs) or "()"
        where = f" at {self.location.filename.rsplit('/', 1)[-1]}:{self.location.lineno}" if self.location else ""
        failed = " raised" if self.error else ""
        return f"<Call {self.kind} {name} {self.type} {ins} -> {outs}{where}{failed}>"

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
        return self.tensor_ids[: len(self.inputs)]

    @property
    def output_ids(self) -> tuple[int, ...]:
        """The identity of each output tensor, () when unknown."""
        return self.tensor_ids[len(self.inputs) :]

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

# The ``kwargs`` and ``config`` the recorder gives a call that has none: one
# dict for all of them, since every object a record keeps brings Python's
# next garbage collection nearer (core/meta_table.py, ``MetaTable.single``).
# Records are values: no code changes it.
NO_ENTRIES: dict[str, Any] = {}


def link_calls(calls: list[Call], *, numbered: bool = False) -> None:
    """Set ``parent`` and ``children`` of calls given in execution order.

    They are written into the frozen calls' dicts: the links are set once,
    here, and are not part of a call's value. ``numbered``: the id of
    ``calls[i]`` is ``i`` (the recorder's), so the list is its own index
    (building a dict of every call by id was most of linking: 0.8% of
    NHITS's traced forward, py-spy).
    """
    by_id: list[Call] | dict[int, Call] = calls if numbered else {call.id: call for call in calls}
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
