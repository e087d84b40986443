"""A call while the recorder records it, the text of an error it raised, names for unnamed modules."""

from __future__ import annotations

import re

from torch import nn

from shapetrace.core.records import NO_ENTRIES, Call, CallKind, Location, make_call
from shapetrace.core.tensor_meta import TensorMeta
from shapetrace.record.module_info import ModuleInfo


def error_text(exc: BaseException) -> str:
    message = str(exc).strip()
    if len(message) > 2000:
        message = message[:2000] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class Event:
    """A call while it is recorded; frozen into a ``Call`` at the end.

    Arguments are positional: an event is made for every call recorded.
    """

    __slots__ = (
        "args",
        "depth",
        "error",
        "id",
        "index",
        "info",
        "inputs",
        "kind",
        "kwargs",
        "location",
        "module_id",
        "name",
        "outputs",
        "parent_id",
        "tensor_ids",
        "type",
    )

    def __init__(
        self,
        id: int,
        kind: CallKind,
        name: str,
        type: str,
        inputs: tuple[TensorMeta, ...],
        tensor_ids: tuple[int, ...],
        location: Location | None,
        depth: int,
        index: int,
        parent_id: int | None,
        args: tuple = (),
        kwargs: dict | None = None,
        info: ModuleInfo | None = None,
        module_id: int = 0,
    ) -> None:
        self.id, self.kind, self.name, self.type = id, kind, name, type
        # The inputs' identities; the outputs' are added when the call returns.
        self.inputs, self.tensor_ids, self.location = inputs, tensor_ids, location
        self.depth, self.index = depth, index
        self.parent_id, self.args, self.kwargs, self.info = parent_id, args, kwargs, info
        self.module_id = module_id
        self.outputs: tuple[TensorMeta, ...] = ()
        self.error: str | None = None

    def freeze(self) -> Call:
        config, num_params, defined_at = self.info or NO_MODULE_INFO
        return make_call(
            self.id,
            self.kind,
            self.name,
            self.type,
            self.inputs,
            self.outputs,
            self.location,
            self.depth,
            self.index,
            self.parent_id,
            self.args,
            self.kwargs or NO_ENTRIES,
            config or NO_ENTRIES,
            num_params or 0,
            self.error,
            defined_at,
            self.tensor_ids,
        )


NO_MODULE_INFO: ModuleInfo = ({}, 0, None)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


def unique_name(class_name: str, taken: dict[str, int], *, base: str | None = None) -> str:
    """``multi_head`` for ``MultiHead``; ``multi_head_1`` when that name is taken.
    ``base``: the name to start from instead of the class's (a variable's, ``G``)."""
    base = base or _snake(class_name)
    name, n = base, 1
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


# DDP keeps the user's model as ``.module``, FSDP (v1) and activation
# checkpointing wrap each unit: their prefixes are noise in the user's names.
_WRAPPER_SEGMENTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


def unwrapped_name(name: str, root: nn.Module) -> str:
    """``lstm`` for DDP's ``module.lstm``, ``a`` for FSDP's ``a._fsdp_wrapped_module.0``'s
    parent; the wrapped module itself is ``module`` (``a.module``), as under DDP."""
    if name.startswith("module.") and type(root).__name__ == "DistributedDataParallel":
        name = name[len("module.") :]
    for segment in _WRAPPER_SEGMENTS:
        if segment[:-1] in name:
            name = name.replace(segment, "")
            if name.endswith(segment[:-1]):
                name = name[: -len(segment) + 1] + "module"
    return name
