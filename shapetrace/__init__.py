"""shapetrace: what shape is this tensor here, and why is it wrong?

The public names are imported on first use, so that pytest's start-up (which
imports the plugin, and so this package) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

_EXPORTS = {
    "Call": ".records",
    "Finding": ".checks.finding",
    "Location": ".records",
    "ShapetraceError": ".errors",
    "ShapetraceWarning": ".tracing",
    "TensorMeta": ".meta",
    "Trace": ".result",
    "assert_shapes": ".assertions",
    "load": ".serialize",
    "trace": ".tracing",
    "vary": ".dims",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shapetrace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .assertions import assert_shapes as assert_shapes
    from .checks.finding import Finding as Finding
    from .dims import vary as vary
    from .errors import ShapetraceError as ShapetraceError
    from .meta import TensorMeta as TensorMeta
    from .records import Call as Call
    from .records import Location as Location
    from .result import Trace as Trace
    from .serialize import load as load
    from .tracing import ShapetraceWarning as ShapetraceWarning
    from .tracing import trace as trace
