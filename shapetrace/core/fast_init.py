"""Constructors for the frozen records the recorder makes on every event.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__`` (2.7 us for a ``Call``, 2.5 us for a ``TensorMeta``).
The constructor made here fills the new instance's dict key by key, in the
fields' order, as code generated once per class (0.5 us): the dict keeps its
keys shared with the class's other instances (``dict.update`` would give each
one a dict of its own, 650 bytes instead of 430), and a loop over the names
would cost 0.3-0.4 us more an instance. No ``__post_init__`` runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """``cls(...)`` for a frozen dataclass, taking the same arguments.

    Only the trailing fields with a plain default are optional; a field with
    a ``default_factory`` must be given.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    optional = len(fields)
    while optional > 0 and fields[optional - 1].default is not dataclasses.MISSING:
        optional -= 1
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params = []
    for position, field in enumerate(fields):
        if position >= optional:
            namespace[f"_default_{field.name}"] = field.default
            params.append(f"{field.name}=_default_{field.name}")
        else:
            params.append(field.name)
    body = "".join(f"    fields[{field.name!r}] = {field.name}\n" for field in fields)
    source = (
        f"def make_{cls.__name__}({', '.join(params)}):\n"
        f"    made = _new(_cls)\n    fields = made.__dict__\n{body}    return made\n"
    )
    exec(compile(source, f"<fast constructor of {cls.__qualname__}>", "exec"), namespace)
    constructor: Callable[..., T] = namespace[f"make_{cls.__name__}"]
    constructor.__doc__ = f"``{cls.__name__}(...)`` without the frozen dataclass's ``__init__`` (see fast_init)."
    return constructor
