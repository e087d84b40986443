"""shapetrace: what shape is this tensor here, and why is it wrong?

The public names are imported on first use, so that pytest's start-up (which
imports the plugin, and so this package) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Before any of shapetrace's dependencies: it reads what the interpreter had loaded.
from shapetrace import _startup as _startup
from shapetrace._version import __version__ as __version__

_EXPORTS = {
    "Call": ".core.records",
    "CollectiveMismatchError": ".errors",
    "Finding": ".core.finding",
    "GraphTooLargeError": ".errors",
    "Location": ".core.records",
    "RecordedError": ".errors",
    "ShapetraceError": ".errors",
    "ShapetraceWarning": ".errors",
    "SourceNotFoundError": ".errors",
    "SpecSyntaxError": ".errors",
    "TensorMeta": ".core.tensor_meta",
    "Trace": ".core.trace",
    "TraceFormatError": ".errors",
    "UnknownCallError": ".errors",
    "UnknownTensorError": ".errors",
    "assert_shapes": ".testing.assertions",
    "load": ".core.serialize",
    "trace": ".record.tracing",
    "trace_data": ".analyze.collate_note",
    "vary": ".analyze.symbolic",
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
    from shapetrace.analyze.collate_note import trace_data as trace_data
    from shapetrace.analyze.symbolic import vary as vary
    from shapetrace.core.finding import Finding as Finding
    from shapetrace.core.records import Call as Call
    from shapetrace.core.records import Location as Location
    from shapetrace.core.serialize import load as load
    from shapetrace.core.tensor_meta import TensorMeta as TensorMeta
    from shapetrace.core.trace import Trace as Trace
    from shapetrace.errors import CollectiveMismatchError as CollectiveMismatchError
    from shapetrace.errors import GraphTooLargeError as GraphTooLargeError
    from shapetrace.errors import RecordedError as RecordedError
    from shapetrace.errors import ShapetraceError as ShapetraceError
    from shapetrace.errors import ShapetraceWarning as ShapetraceWarning
    from shapetrace.errors import SourceNotFoundError as SourceNotFoundError
    from shapetrace.errors import SpecSyntaxError as SpecSyntaxError
    from shapetrace.errors import TraceFormatError as TraceFormatError
    from shapetrace.errors import UnknownCallError as UnknownCallError
    from shapetrace.errors import UnknownTensorError as UnknownTensorError
    from shapetrace.record.tracing import trace as trace
    from shapetrace.testing.assertions import assert_shapes as assert_shapes
